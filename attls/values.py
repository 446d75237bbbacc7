"""What may be written into a policy file, or used to reach an LPAR: one validator per kind.

(attls.policy.values is another matter: it reads and writes the typed values of a policy
file. This module decides which values the portal may write at all.)

Every value the portal writes into AT-TLS policy text, or puts into a path, a console
command or a URL on the way to an LPAR, passes one of the validators below. The design
models, the forms and the API all call them (policies/validators.py wraps them for
Django), and the renderer applies `check_policy_word` to every word it writes, as a
last line of defence for values that never passed a validator.

A validator takes a string and returns it unchanged, or raises `ValueRefused` with a
sentence a mainframe engineer can act on. Each rule says where it comes from: an IBM page,
or "inferred" where IBM is silent and we chose a conservative rule. Two facts hold for every
kind, because of how Policy Agent reads a file (attls/policy/syntax.py): a value is one
line of blank-separated words, `#` starts a comment and `{` `}` open and close blocks. So
no validated value may hold a line break, a blank (unless the parameter takes several
words), `#`, `{` or `}`. Values are limited to printable ASCII as well (inferred): the file
is converted to EBCDIC on z/OS, and invisible or direction-changing characters (U+202E)
would make what a reviewer sees differ from what Policy Agent reads.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Sequence

from attls.errors import AttlsError


class ValueRefused(AttlsError, ValueError):
    """A value that may not be written where it was meant to go; the message says why."""


# --- the syntax of a policy file ---------------------------------------------------------------

# Characters with a meaning of their own to the policy reader (attls/policy/syntax.py).
_SYNTAX_CHARACTERS = {
    "#": "'#', which starts a comment in a policy file",
    "{": "'{', which opens a block in a policy file",
    "}": "'}', which closes a block in a policy file",
}


# Printable ASCII other than the blank, `#`, `{` and `}`: always safe, checked in one step.
_PLAIN = r"[\x21\x22\x24-\x7a\x7c\x7e]+"
_PLAIN_WORD = re.compile(_PLAIN)
_PLAIN_WORDS = re.compile(f"{_PLAIN}(?: {_PLAIN})*")


def _character(char: str) -> str:
    """A character named so that a person can find it even when it is invisible."""
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    if char == "\n":
        return f"a line break ({code})"
    if char == " ":
        return "a blank"
    if char.isprintable() and char.isascii():
        return f"'{char}'"
    return f"{code} {name}".rstrip() if name else f"the control character {code}"


def policy_word_problem(value: str, *, words: bool = False) -> str | None:
    """Why `value` would not be read back as written from a policy file, or None.

    `words` allows single blanks between words, for parameters that take several
    (their reader joins the words with one blank). Anything `str.split()` or
    `str.splitlines()` treats as a separator is refused otherwise, and so are characters
    that are not printable (control and format characters such as U+202E).
    """
    if (_PLAIN_WORDS if words else _PLAIN_WORD).fullmatch(value):
        return None  # the common case, decided by one regular expression
    if not value:
        return "is empty"
    if len(value) > 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1]:
        # A quoted value (a certificate label with a blank, as the renderer writes one) is
        # read whole, without its quotes (attls.policy.values; inferred, IBM documents no
        # quotes): what is inside may hold single blanks, nothing else a plain word may not.
        return policy_word_problem(value[1:-1], words=True)
    if words and (value != value.strip(" ") or "  " in value):
        return "has a blank at its start or end, or two blanks in a row"
    for char in value:
        if char in _SYNTAX_CHARACTERS:
            return f"contains {_SYNTAX_CHARACTERS[char]}"
        if char == " " and words:
            continue
        if char.isspace():
            return f"contains {_character(char)}; a value must stay on one line as one word"
        if not char.isprintable():
            return f"contains {_character(char)}, which is not a printable character"
    return None


def check_policy_word(value: str, *, what: str, words: bool = False) -> str:
    """`value` if it can be written into a policy file and read back the same; else refuses.

    The renderer calls this for every name and value it writes; `what` names the
    parameter (`TTLSKeyringParms ringShared: Keyring`) so the refusal says where.
    """
    problem = policy_word_problem(value, words=words)
    if problem is not None:
        raise ValueRefused(f"{what} {problem}")
    return value


# --- building blocks -----------------------------------------------------------------------------


def _refuse(what: str, problem: str) -> ValueRefused:
    return ValueRefused(f"{what} {problem}")


def _printable_ascii(value: str, what: str) -> None:
    """Refuses what cannot go into a policy file, and anything outside printable ASCII."""
    problem = policy_word_problem(value)
    if problem is not None:
        raise _refuse(what, problem)
    for char in value:
        if not (char.isascii() and char.isprintable()):
            raise _refuse(
                what, f"contains {_character(char)}; use printable ASCII characters (inferred)"
            )


def _length(value: str, what: str, minimum: int, maximum: int) -> None:
    if not value:
        raise _refuse(what, "is empty")
    if len(value) > maximum:
        raise _refuse(what, f"is {len(value)} characters long; the limit is {maximum}")
    if len(value) < minimum:
        raise _refuse(what, f"is {len(value)} characters long; it needs at least {minimum}")


def _chars(value: str, what: str, allowed: re.Pattern[str], described: str) -> None:
    for char in value:
        if not allowed.fullmatch(char):
            raise _refuse(what, f"contains {_character(char)}; {described}")


# --- statement names -----------------------------------------------------------------------------

# IBM: every AT-TLS statement's name is "a string 1 - 32 characters in length" (for example
# https://www.ibm.com/docs/SSLTBW_2.4.0/com.ibm.zos.v2r4.halz001/ttlskeyringparmspolicyagent.htm
# and .../ttlsenvironmentactionpolicyagent.htm). IBM does not list the characters; the set
# below is inferred from IBM's Configuration Assistant names (`cipher1~AT-TLS__Gold`,
# `TLSv1.2zOS1.13`), the same set the policy parser accepts (attls.policy.values.check_name).
STATEMENT_NAME_MAX = 32
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.~@$\-]")


def statement_name(value: str, *, what: str = "The name") -> str:
    """A policy statement name: 1-32 of A-Z a-z 0-9 _ . ~ @ $ - (the set is inferred).

    Names made only of dots are refused as well (inferred): names appear in the portal's
    URLs (`/api/keyrings/<name>/`), where `.` and `..` mean something else.
    """
    _length(value, what, 1, STATEMENT_NAME_MAX)
    _chars(
        value,
        what,
        _NAME_CHAR,
        "a name may hold letters, digits and _ . ~ @ $ - (inferred: IBM lists no set)",
    )
    if not value.strip("."):
        raise _refuse(what, "is made only of dots, which the portal refuses in names (inferred)")
    return value


# --- z/OS names ----------------------------------------------------------------------------------

# IBM, z/OS MVS JCL Reference, JOB statement name field: "The jobname is 1 through 8
# alphanumeric or national ($, #, @) characters. The first character must be alphabetic or
# national" (https://ibm.com/support/knowledgecenter/en/SSLTBW_2.1.0/com.ibm.zos.v2r1.ieab600/
# iea3b6_Name_field6.htm). The same for a user ID, USER parameter: "1 through 8 alphanumeric
# or national ($, #, @) characters; the first character must be alphabetic or national"
# (.../iea3b6_Subparameter_definition100.htm). Letters are upper case on z/OS.
ZOS_NAME_MAX = 8
_ZOS_FIRST = re.compile(r"[A-Z@#$]")
_ZOS_CHAR = re.compile(r"[A-Z0-9@#$]")


def _zos_name(
    value: str, what: str, first: re.Pattern[str], rest: re.Pattern[str], national: str
) -> str:
    _length(value, what, 1, ZOS_NAME_MAX)
    if value.isascii() and value != value.upper():
        raise _refuse(what, f"must be in capitals, as z/OS names are: {value.upper()}")
    if not first.fullmatch(value[0]):
        raise _refuse(
            what, f"starts with {_character(value[0])}; the first character is A-Z or {national}"
        )
    _chars(value, what, rest, f"z/OS names hold A-Z, 0-9 and {national}")
    return value


def system_name(value: str, *, what: str = "The LPAR name") -> str:
    """An LPAR's system name (SYSNAME): 1-8 of A-Z 0-9 @ # $, the first not a digit.

    IBM documents SYSNAME in IEASYSxx (https://www.ibm.com/support/knowledgecenter/en/
    SSLTBW_2.1.0/com.ibm.zos.v2r1.ieae200/ieae200338.htm) without restating the character
    set here; we hold it to the JCL name rule above, which is what system names use in
    practice (inferred).
    """
    return _zos_name(value, what, _ZOS_FIRST, _ZOS_CHAR, "@ # $ (inferred: the JCL name rule)")


def job_name(value: str, *, what: str = "The job name") -> str:
    """A z/OS job or started task name (a TCP/IP stack, PAGENT): the JCL name rule."""
    return _zos_name(value, what, _ZOS_FIRST, _ZOS_CHAR, "@ # $")


def _pattern(value: str, what: str) -> str:
    """Jobname and Userid in a TTLSRule: a name, or a prefix of one ending in `*`, or `*`."""
    if value == "*":
        return value
    bare = value.removesuffix("*")
    if "*" in bare:
        raise _refuse(what, "may hold `*` only as its last character")
    if not bare:
        raise _refuse(what, "is empty")
    if "#" in bare:
        # The same JCL rule as a job name (# is a national character), except that in the
        # policy file the rest of the line after # would be read as a comment: IBM's own
        # samples put comments after values, and IBM does not say whether # inside a value
        # starts one. Refused, rather than a rule that silently matches another name.
        raise _refuse(
            what,
            f"contains '#': z/OS allows it in job names and user IDs, but in a policy file"
            f" '#' starts a comment, so {bare} cannot be written here (inferred: IBM does not"
            " say whether '#' inside a value starts a comment). The nearest rule is the part"
            " before the '#' ending in '*', which matches more jobs",
        )
    _zos_name(bare, what, _ZOS_FIRST, _ZOS_CHAR, "@ # $")
    return value


def job_name_pattern(value: str, *, what: str = "The job name") -> str:
    """TTLSRule Jobname: 1-8 of A-Z 0-9 @ $, the first not a digit, optionally ending in `*`.

    The trailing wildcard is IBM's (reference §1.4, IBM-Rules); `#` is left out because it
    starts a comment in the file.
    """
    return _pattern(value, what)


def user_id_pattern(value: str, *, what: str = "The user ID") -> str:
    """TTLSRule Userid: a RACF user ID (1-8 of A-Z 0-9 @ $, not a digit first), optional `*`."""
    return _pattern(value, what)


# --- key rings and certificates ------------------------------------------------------------------

# IBM, TTLSKeyringParms: Keyring "Specifies the path and file name of the key database z/OS
# UNIX file, the ring name of the SAF key ring, or the name of the z/OS PKCS #11 token ...
# specified as *TOKEN*/token-name ... Valid values are 1 - 1 023 characters in length."
# (https://www.ibm.com/docs/SSLTBW_2.4.0/com.ibm.zos.v2r4.halz001/ttlskeyringparmspolicyagent.htm)
# IBM, Specifying the key ring: "The SAF key ring name is specified as userid/keyring. The
# current user ID is used if only the key ring name is specified. A value that begins with a
# forward slash is interpreted as the path name of a gskkyman key ring."
# (https://www.ibm.com/support/knowledgecenter/SSLTBW_2.2.0/com.ibm.zos.v2r2.halz002/
# attls_key_ring.htm)
KEYRING_MAX = 1023
# Inferred: IBM does not list the characters of a ring name in these pages; real rings are
# named like `ATTLSRING`, `SharedRing`, `dbgmgr.racf`.
_RING_CHAR = re.compile(r"[A-Za-z0-9@$._\-]")
# The owners of RACF's virtual key rings (`*AUTH*/*`, `*SITE*/*`) and the PKCS #11 prefix.
_VIRTUAL_OWNERS = ("*AUTH*", "*SITE*")
_TOKEN_OWNER = "*TOKEN*"
# Inferred for a token name: letters, digits, national characters and periods.
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9@$.]")
# A ring's owner as people write it: a RACF user ID, in either case (IBM's pasearch sample
# shows `start1/TN3270`).
_OWNER_FIRST = re.compile(r"[A-Za-z@$]")
_OWNER_CHAR = re.compile(r"[A-Za-z0-9@$]")


def keyring(value: str, *, what: str = "The key ring") -> str:
    """TTLSKeyringParms Keyring: `owner/ring`, `ring`, `*TOKEN*/name` or a `/path`; 1-1023."""
    _length(value, what, 1, KEYRING_MAX)
    _printable_ascii(value, what)
    if value.startswith("/"):
        unix_path(value, what=what, maximum=KEYRING_MAX)
        if value.endswith("/"):
            raise _refuse(what, "names a directory; name the key database file")
        return value
    owner, slash, ring = value.partition("/")
    if not slash:
        owner, ring = "", value
    if "/" in ring:
        raise _refuse(what, "has more than one '/'; write owner/ring or /path/to/key.kdb")
    if owner == _TOKEN_OWNER:
        if not ring:
            raise _refuse(what, "names no token after *TOKEN*/")
        _chars(ring, what, _TOKEN_CHAR, "a token name holds letters, digits, @ $ and . (inferred)")
        return value
    if owner in _VIRTUAL_OWNERS and ring == "*":
        return value
    if slash:
        if not owner:
            raise _refuse(what, "has an empty owner before '/'")
        if len(owner) > ZOS_NAME_MAX or not _OWNER_FIRST.fullmatch(owner[0]):
            raise _refuse(
                what,
                f"has the owner '{owner}', which is not a user ID (1-8 characters, not a"
                " digit first)",
            )
        _chars(owner, what, _OWNER_CHAR, "an owner is a user ID: letters, digits, @ $")
    if not ring:
        raise _refuse(what, "names no ring after '/'")
    _chars(ring, what, _RING_CHAR, "a ring name holds letters, digits and @ $ . _ - (inferred)")
    return value


# The CertificateLabel parameters take a label of at most 32 characters (the limit the
# policy reader applies, attls.policy.model; RACF labels are up to 32 characters too). RACF
# allows blanks in labels, but a blank ends the value in a policy file, so a label with
# blanks cannot be named there (inferred from the file syntax).
LABEL_MAX = 32
_LABEL_CHAR = re.compile(r"[A-Za-z0-9@$._\-+*/:=()!%&,;<>?\[\]^|~]")


def certificate_label(value: str, *, what: str = "The certificate label") -> str:
    """A certificate label: 1-32 printable characters without blanks, quotes, `#` `{` `}`."""
    _length(value, what, 1, LABEL_MAX)
    _printable_ascii(value, what)
    _chars(
        value, what, _LABEL_CHAR, "a label in a policy file holds no blanks or quotes (inferred)"
    )
    return value


# --- paths, URLs, host names ---------------------------------------------------------------------

# z/OS UNIX paths are at most 1023 bytes (PATH_MAX); IBM gives the same 1023 limit for the
# Keyring and KeyringStashFile paths of TTLSKeyringParms (page above).
PATH_MAX = 1023
# Inferred and conservative: POSIX's portable filename characters (A-Z a-z 0-9 . _ -) with
# the national characters @ $ and +, and / between names. Nothing a shell, a URL or a
# policy file would read as anything but part of a name.
_PATH_CHAR = re.compile(r"[A-Za-z0-9._\-@$+/]")


def unix_path(value: str, *, what: str = "The path", maximum: int = PATH_MAX) -> str:
    """An absolute z/OS UNIX path: starts with /, no `..` or `.` segment, no `//`.

    Inferred and conservative: a path the portal writes never needs to climb out of a
    directory, and a normalised path is the only one a prefix check can be trusted on.
    """
    _length(value, what, 1, maximum)
    _printable_ascii(value, what)
    _chars(value, what, _PATH_CHAR, "a path holds letters, digits, / and . _ - @ $ + (inferred)")
    if not value.startswith("/"):
        raise _refuse(what, "must be absolute (start with /)")
    segments = value.split("/")[1:]
    if any(segment in (".", "..") for segment in segments):
        raise _refuse(what, "has a '.' or '..' segment; write the path without them (inferred)")
    if any(segment == "" for segment in segments[:-1]):
        raise _refuse(what, "has '//' in it; write each directory once")
    return value


def unix_directory(value: str, *, what: str = "The directory") -> str:
    """An absolute directory path ending in `/` (a prefix that files must be under)."""
    unix_path(value, what=what)
    if not value.endswith("/"):
        raise _refuse(what, f"must end with '/' (write {value}/), so that it names a directory")
    return value


def policy_file_path(
    value: str, *, allowed_prefixes: Sequence[str], what: str = "The policy file"
) -> str:
    """A policy file path that lies under one of the allowed directories."""
    unix_path(value, what=what)
    if value.endswith("/"):
        raise _refuse(what, "names a directory, not a file")
    if not any(value.startswith(prefix) for prefix in allowed_prefixes):
        allowed = ", ".join(allowed_prefixes) if allowed_prefixes else "(none configured)"
        raise _refuse(
            what, f"is {value}, which is not under a directory allowed for it ({allowed})"
        )
    return value


# IBM, TTLSGskOcspParms OcspUrl: "The value must conform to the definition of an HTTP URL:
# http_URL = "http:" "//" host [ ":" port ] [ abs_path [ "?" query ]] where host can be an
# IPv4 or IPv6 IP address, or a domain name. The maximum length of the OcspUrl is 2083
# characters." (https://www.ibm.com/support/knowledgecenter/en/SSLTBW_2.3.0/
# com.ibm.zos.v2r3.halz001/ttlsgskocspparmspolicyagent.dita). Our policy reader keeps
# OcspUrl to 1023 characters (attls.policy.model), so the design does too.
OCSP_URL_MAX = 1023
# RFC 3986 characters of a path and query, without '#' (a fragment is not in IBM's grammar
# and would start a comment in the file).
_URL_TAIL_CHAR = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]")


def ocsp_url(value: str, *, what: str = "The OCSP responder URL") -> str:
    """OcspUrl: http://host[:port][/path[?query]], as IBM defines it (https is not in it)."""
    _length(value, what, 1, OCSP_URL_MAX)
    _printable_ascii(value, what)
    if not value.lower().startswith("http://"):
        raise _refuse(what, "must be an http:// URL (IBM's OcspUrl takes http only)")
    rest = value[len("http://") :]
    authority, _, tail = rest.partition("/")
    if "?" in authority:
        authority, _, query = authority.partition("?")
        tail = "?" + query
    host, port = _split_host_port(authority, what)
    host_name(host, what=what)
    if port is not None and not 1 <= port <= 65535:
        raise _refuse(what, f"has port {port}; a port is 1 to 65535")
    _chars(tail, what, _URL_TAIL_CHAR, "use %-escapes for other characters in a URL")
    return value


def _split_host_port(authority: str, what: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        host, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise _refuse(what, "has an IPv6 address without its closing ']'")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _refuse(what, f"has '{host}', which is not an IPv6 address") from None
        port_text = after.removeprefix(":") if after.startswith(":") else None
        if after and port_text is None:
            raise _refuse(what, "has characters after the IPv6 address")
        return host, _port(port_text, what)
    host, colon, port_text = authority.partition(":")
    return host, _port(port_text if colon else None, what)


def _port(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not text.isascii():
        raise _refuse(what, f"has the port '{text}', which is not a number")
    return int(text)


# RFC 1123 host names: labels of 1-63 letters, digits and hyphens, 253 characters in all.
HOST_NAME_MAX = 253
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")


def host_name(value: str, *, what: str = "The host name") -> str:
    """A DNS host name or an IP address (proxy servers, LDAP servers, OCSP responders)."""
    _length(value, what, 1, HOST_NAME_MAX)
    _printable_ascii(value, what)
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    for label in labels:
        if not _HOST_LABEL.fullmatch(label):
            raise _refuse(
                what,
                f"is not a host name: '{label}' is not 1-63 letters, digits and inner hyphens",
            )
    return value


def ldap_servers(value: str, *, what: str = "The LDAP servers") -> str:
    """GSK_LDAP_SERVER: one or more `host` or `host:port` separated by single blanks.

    The blank-separated list follows System SSL's GSK_LDAP_SERVER; reference §1.12 marks
    the AT-TLS keyword unconfirmed, so the rule is inferred and conservative.
    """
    problem = policy_word_problem(value, words=True)
    if problem is not None:
        raise _refuse(what, problem)
    for server in value.split(" "):
        host, port = _split_host_port(server, what)
        host_name(host, what=what)
        if port is not None and not 1 <= port <= 65535:
            raise _refuse(what, f"has port {port}; a port is 1 to 65535")
    return value


# --- the catalogue -------------------------------------------------------------------------------

Validator = Callable[..., str]

# Every kind of value, by the name forms and tests use for it.
VALIDATORS: dict[str, Validator] = {
    "statement_name": statement_name,
    "system_name": system_name,
    "job_name": job_name,
    "job_name_pattern": job_name_pattern,
    "user_id_pattern": user_id_pattern,
    "keyring": keyring,
    "certificate_label": certificate_label,
    "unix_path": unix_path,
    "unix_directory": unix_directory,
    "ocsp_url": ocsp_url,
    "host_name": host_name,
    "ldap_servers": ldap_servers,
}

DEFAULT_POLICY_PREFIXES = ("/etc/pagent/",)
