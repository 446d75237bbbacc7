"""Choice lists of the design models. Values are what AT-TLS writes where it has a word."""

from django.db import models


class Direction(models.TextChoices):
    INBOUND = "Inbound", "Inbound"
    OUTBOUND = "Outbound", "Outbound"
    BOTH = "Both", "Both"


class Tier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Phase(models.TextChoices):
    """The rollout phases of the reference account, in order."""

    INVENTORY = "inventory", "Traffic inventory"
    DESIGN = "design", "Policy design"
    LAB = "lab", "Lab validation"
    PILOT = "pilot", "Pilot"
    ROLLOUT = "rollout", "Staged rollout"
    DONE = "done", "Done"


class LparKind(models.TextChoices):
    PRODUCTION = "production", "Production"
    LAB = "lab", "Lab"


class HandshakeRole(models.TextChoices):
    CLIENT = "Client", "Client"
    SERVER = "Server", "Server"
    SERVER_WITH_CLIENT_AUTH = "ServerWithClientAuth", "Server with client authentication"


class ClientAuthType(models.TextChoices):
    PASSTHRU = "PassThru", "PassThru (not validated)"
    FULL = "Full", "Full (validated when sent)"
    REQUIRED = "Required", "Required"
    SAFCHECK = "SAFCheck", "SAFCheck (required, mapped to a SAF user)"


class CertValidationMode(models.TextChoices):
    ANY = "Any", "Any"
    RFC2459 = "RFC2459", "RFC 2459"
    RFC3280 = "RFC3280", "RFC 3280"
    RFC5280 = "RFC5280", "RFC 5280"


class Renegotiation(models.TextChoices):
    # IBM's TTLSEnvironmentAdvancedParms syntax diagram (z/OS 2.5 and 3.1) lists all four.
    DEFAULT = "Default", "Default"
    DISABLED = "Disabled", "Disabled"
    ALL = "All", "All"
    ABBREVIATED = "Abbreviated", "Abbreviated"


class TriState(models.TextChoices):
    """An override that may leave the inherited value alone."""

    INHERIT = "", "Inherit"
    ON = "On", "On"
    OFF = "Off", "Off"


class PeerMinCertVersion(models.TextChoices):
    NOT_SET = "", "Not set (z/OS default: Any)"
    ANY = "Any", "Any"
    V3 = "3", "3 (X.509 v3 only)"


class RevocationSecurityLevel(models.TextChoices):
    NOT_SET = "", "Not set (z/OS default)"
    LOW = "Low", "Low (soft fail)"
    MEDIUM = "Medium", "Medium"
    HIGH = "High", "High"
