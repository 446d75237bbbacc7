"""Field validators of the design models, built on the attls library's own rules.

The designer must refuse exactly what Policy Agent would refuse, so these call the
same checks the policy parser uses rather than restating them.
"""

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from attls import ciphers, tlsgroups
from attls.policy import values


def validate_policy_name(value: str) -> None:
    """A statement name as Policy Agent accepts it: 1-32 characters, no blanks or `#`."""
    problem = values.check_name(value)
    if problem:
        raise ValidationError(problem[0].upper() + problem[1:])


def validate_job_pattern(value: str) -> None:
    """A job name or user ID: 1-8 characters, optionally ending in `*`."""
    try:
        values.read_job_pattern([value])
    except ValueError as error:
        raise ValidationError(str(error)) from None


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
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise ValidationError("Expected a list of certificate labels")
    for label in value:
        if not 1 <= len(label) <= 32:
            raise ValidationError(f"Label {label!r} must be 1 to 32 characters")


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
    """OcspUrl: the http(s) address of an OCSP responder, at most 1023 characters."""
    URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL")(value)


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
