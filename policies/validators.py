"""Field validators of the design models, built on the attls library's own rules.

The designer must refuse what Policy Agent would refuse, and anything that would change
the meaning of the policy text, so these call the attls checks (attls/values.py: one
validator per kind of value) rather than restating them. The model fields carry them, so
the forms (model forms) and the API (model serializers) apply the same rules.
"""

from collections.abc import Callable, Mapping

from django.core.exceptions import ValidationError

from attls import ciphers, tlsgroups
from attls import values as kinds
from attls.policy import values


def django_validator(check: Callable[[str], str]) -> Callable[[str], None]:
    """A Django validator of one attls kind: ValueRefused becomes a ValidationError.

    Give model fields a named module-level function that calls the result (migrations
    refer to validators by name).
    """

    def validate(value: str) -> None:
        try:
            check(value)
        except kinds.ValueRefused as refusal:
            # Not "invalid": a field would swap its own message in for that code.
            raise ValidationError(str(refusal), code="refused_value") from None

    validate.__doc__ = check.__doc__
    return validate


def validate_policy_name(value: str) -> None:
    """A statement name: 1-32 of A-Z a-z 0-9 _ . ~ @ $ - (attls.values.statement_name)."""
    django_validator(kinds.statement_name)(value)


def validate_job_pattern(value: str) -> None:
    """TTLSRule Jobname: 1-8 of A-Z 0-9 @ $, not a digit first, optionally ending in `*`."""
    django_validator(kinds.job_name_pattern)(value)


def validate_user_id_pattern(value: str) -> None:
    """TTLSRule Userid: a RACF user ID, optionally ending in `*`."""
    django_validator(kinds.user_id_pattern)(value)


def validate_keyring(value: str) -> None:
    """TTLSKeyringParms Keyring: owner/ring, ring, *TOKEN*/name or /path; 1-1023 characters."""
    django_validator(kinds.keyring)(value)


def validate_certificate_label(value: str) -> None:
    """CertificateLabel: 1-32 characters a policy file can hold (no blanks, quotes, # { })."""
    django_validator(kinds.certificate_label)(value)


def validate_system_name(value: str) -> None:
    """An LPAR's system name: 1-8 of A-Z 0-9 @ # $, not a digit first."""
    django_validator(kinds.system_name)(value)


def validate_stack_name(value: str) -> None:
    """A TCP/IP stack's job name: 1-8 of A-Z 0-9 @ # $, not a digit first."""
    django_validator(lambda name: kinds.job_name(name, what="The stack name"))(value)


def validate_policy_file(value: str) -> None:
    """Where the stack's policy file lives: an absolute z/OS UNIX path without `..`.

    Which directories a deployment may write to is configured per LPAR connection
    (fleet); that check is made when a deployment is requested and again before upload.
    """
    django_validator(lambda path: kinds.unix_path(path, what="The policy file"))(value)


def validate_address(value: str) -> None:
    """`All`, an address, a prefix or a range, as LocalAddr and RemoteAddr take them."""
    try:
        values.read_address([value])
    except ValueError as error:
        raise ValidationError(str(error)) from None


def validate_cipher_codes(value: object) -> None:
    """An ordered list of 4-character codes, each known to the cipher registry, no repeats."""
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError("Expected a list of 4-character cipher codes")
    seen: set[str] = set()
    for code in value:
        if ciphers.get(code) is None:
            raise ValidationError(f"{code!r} is not a cipher suite in the registry")
        if code.upper() in seen:
            raise ValidationError(f"{code} is listed twice")
        seen.add(code.upper())


def validate_labels(value: object) -> None:
    """A list of certificate labels, each as `validate_certificate_label` takes it."""
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise ValidationError("Expected a list of certificate labels")
    for label in value:
        validate_certificate_label(label)


def _validate_codes(value: object, *, parameter: str, kind: str, known: set[str]) -> None:
    # The message sits on the field named after `parameter` (a form's label, an API key):
    # it does not name the parameter again.
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError(f"Expected a list of 4-character {kind} codes")
    seen: set[str] = set()
    for code in value:
        if code.upper() not in known:
            raise ValidationError(
                f"{code!r} is not a {kind} code in the registry (known: {', '.join(sorted(known))})"
            )
        if code.upper() in seen:
            raise ValidationError(f"{code} is listed twice")
        seen.add(code.upper())


def _validate_groups(value: object, parameter: str) -> None:
    known = {group.code for group in tlsgroups.all_groups()}
    _validate_codes(value, parameter=parameter, kind="named group", known=known)


def validate_server_kex_ecurves(value: object) -> None:
    """ServerKexECurves: ordered named group codes (`0023` is secp256r1)."""
    _validate_groups(value, "ServerKexECurves")


def validate_client_ecurves(value: object) -> None:
    """ClientECurves: ordered named group codes, or the single keyword `Any`."""
    if value == ["Any"]:
        return
    _validate_groups(value, "ClientECurves")


def validate_server_key_share_groups(value: object) -> None:
    _validate_groups(value, "ServerKeyShareGroups")


def validate_client_key_share_groups(value: object) -> None:
    _validate_groups(value, "ClientKeyShareGroups")


def validate_signature_pairs(value: object) -> None:
    """An ordered list of signature pair codes (`0401` is SHA-256 with RSA)."""
    known = {pair.code for pair in tlsgroups.all_sigalgs()}
    _validate_codes(value, parameter="SignaturePairs", kind="signature pair", known=known)


def validate_ocsp_url(value: str) -> None:
    """OcspUrl: http://host[:port][/path[?query]], as IBM defines it; at most 1023 characters."""
    django_validator(kinds.ocsp_url)(value)


def port_order_errors(values: Mapping[str, object]) -> dict[str, str]:
    """A sentence for each port range of a service given high to low, keyed by its high field.

    The table constraints `service_local_ports_ordered` and `service_remote_ports_ordered`
    refuse the same; their own message would only name the constraint.
    """
    errors: dict[str, str] = {}
    for side in ("local", "remote"):
        low, high = values.get(f"{side}_port_low"), values.get(f"{side}_port_high")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            errors[f"{side}_port_high"] = (
                f"The {side} port range ends at {high}, below its first port {low}: give the"
                " lower port first, or the same port twice for a single port."
            )
    return errors
