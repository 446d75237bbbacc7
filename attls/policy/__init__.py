"""AT-TLS policy files: the typed model, the parser, the canonical renderer, the PAGENT chain.

policy = parse_policy(text)          # PolicySyntaxError lists every problem
text = render_policy(policy)         # canonical; parse_policy(text) == policy
"""

from attls.policy.model import (
    COLLECTIONS,
    IpAddr,
    IpAddrGroup,
    IpAddrSet,
    IpTimeCondition,
    Location,
    Policy,
    PortGroup,
    PortRange,
    Statement,
    TTLSCipherParms,
    TTLSConnectionAction,
    TTLSConnectionAdvancedParms,
    TTLSEnvironmentAction,
    TTLSEnvironmentAdvancedParms,
    TTLSGroupAction,
    TTLSGroupAdvancedParms,
    TTLSGskAdvancedParms,
    TTLSGskHttpCdpParms,
    TTLSGskLdapParms,
    TTLSGskOcspParms,
    TTLSKeyringParms,
    TTLSRule,
    TTLSSignatureParms,
)
from attls.policy.parser import (
    PolicyReading,
    parse_policy,
    parse_policy_files,
    read_policy,
    validate_policy,
)
from attls.policy.render import render_policy, render_statement
from attls.policy.values import Address, Ports

__all__ = [
    "COLLECTIONS",
    "Address",
    "IpAddr",
    "IpAddrGroup",
    "IpAddrSet",
    "IpTimeCondition",
    "Location",
    "Policy",
    "PolicyReading",
    "PortGroup",
    "PortRange",
    "Ports",
    "Statement",
    "TTLSCipherParms",
    "TTLSConnectionAction",
    "TTLSConnectionAdvancedParms",
    "TTLSEnvironmentAction",
    "TTLSEnvironmentAdvancedParms",
    "TTLSGroupAction",
    "TTLSGroupAdvancedParms",
    "TTLSGskAdvancedParms",
    "TTLSGskHttpCdpParms",
    "TTLSGskLdapParms",
    "TTLSGskOcspParms",
    "TTLSKeyringParms",
    "TTLSRule",
    "TTLSSignatureParms",
    "parse_policy",
    "parse_policy_files",
    "read_policy",
    "render_policy",
    "render_statement",
    "validate_policy",
]
