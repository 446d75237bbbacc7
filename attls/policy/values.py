"""Value types of policy parameters: how each is read from text and written back.

A converter reads the words after a keyword (already split on blanks) and returns a
typed value, or raises `ValueError` with a message that says what was expected. The
same module writes each value back in IBM's spelling, so reading and writing stay in
one place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from attls import ciphers, tlsgroups

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAME_MAX = 32
# Names are 1-32 characters: letters, digits and _ - . ~ @ $ (IBM's tools use ~ and -).
# `#` cannot appear: it starts a comment.
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.~@$\-]+")
# z/OS allows # in job names, but in a policy file # starts a comment, so it cannot be written.
_JOB_CHARS = re.compile(r"[A-Za-z0-9@$]{0,8}\*?")


@dataclass(frozen=True, slots=True)
class Ports:
    """A port or an inclusive range; 0-0 (or 0) means any port."""

    low: int
    high: int

    @property
    def is_any(self) -> bool:
        return self.low == 0 and self.high in (0, 65535)

    def contains(self, port: int) -> bool:
        return self.is_any or self.low <= port <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class Address:
    """`All`, one address, a prefix (`10.1.0.0/16`) or a range (`10.1.1.1-10.1.1.9`)."""

    kind: Literal["all", "addr", "prefix", "range"]
    low: IPAddress | None = None
    high: IPAddress | None = None
    prefix_length: int | None = None

    @classmethod
    def all(cls) -> Address:
        return cls("all")

    @property
    def is_all(self) -> bool:
        return self.kind == "all"

    def contains(self, address: IPAddress) -> bool:
        if self.kind == "all":
            return True
        assert self.low is not None and self.high is not None
        if address.version != self.low.version:
            return False
        return int(self.low) <= int(address) <= int(self.high)

    def __str__(self) -> str:
        if self.kind == "all":
            return "All"
        if self.kind == "addr":
            return str(self.low)
        if self.kind == "prefix":
            return f"{self.low}/{self.prefix_length}"
        return f"{self.low}-{self.high}"


class Tolerated(ValueError):
    """A value Policy Agent accepts although it is wrong or unusual.

    The parser keeps `value` (None: the line is ignored, as PAGENT ignores it) and reports
    the message as a warning at the line. Callers that only know ValueError (forms, the
    designer) refuse it, which is right: nobody should design such a value.
    """

    def __init__(self, value: Any, message: str) -> None:
        super().__init__(message)
        self.value = value


# --- readers -------------------------------------------------------------------------------
# Each reader takes the words after the keyword and returns the typed value.


def _one(words: Sequence[str], what: str) -> str:
    if len(words) != 1:
        got = "nothing" if not words else f"{len(words)} words"
        raise ValueError(f"expected {what}, got {got}")
    return words[0]


def read_on_off(words: Sequence[str]) -> bool:
    word = _one(words, "On or Off")
    lowered = word.lower()
    if lowered == "on":
        return True
    if lowered == "off":
        return False
    raise ValueError(f"expected On or Off, got '{word}'")


def write_on_off(value: bool) -> str:
    return "On" if value else "Off"


class IntReader:
    """Reads a whole number in [minimum, maximum]; forms use the bounds too."""

    def __init__(self, minimum: int, maximum: int) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def __call__(self, words: Sequence[str]) -> int:
        expected = f"a whole number from {self.minimum} to {self.maximum}"
        word = _one(words, expected)
        if not word.isdigit():
            raise ValueError(f"expected {expected}, got '{word}'")
        number = int(word)
        if not self.minimum <= number <= self.maximum:
            raise ValueError(f"{number} is out of range {self.minimum}-{self.maximum}")
        return number


def int_reader(minimum: int, maximum: int) -> IntReader:
    return IntReader(minimum, maximum)


def write_int(value: int) -> str:
    return str(value)


class ChoiceReader:
    """Reads one of `choices` case-insensitively and returns it in IBM's casing."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self._by_lower = {choice.lower(): choice for choice in choices}

    def __call__(self, words: Sequence[str]) -> str:
        expected = "one of " + ", ".join(self.choices)
        word = _one(words, expected)
        try:
            return self._by_lower[word.lower()]
        except KeyError:
            raise ValueError(f"expected {expected}, got '{word}'") from None


def choice_reader(*choices: str) -> ChoiceReader:
    return ChoiceReader(*choices)


def write_text(value: str) -> str:
    return value


def check_name(name: str) -> str | None:
    """The problem with a user-defined name, or None when it is acceptable."""
    if len(name) > NAME_MAX:
        return f"name '{name}' is {len(name)} characters long; the limit is {NAME_MAX}"
    if not _NAME_CHARS.fullmatch(name):
        return f"name '{name}' has a character that is not allowed in names"
    return None


def read_name(words: Sequence[str]) -> str:
    name = _one(words, "a name")
    problem = check_name(name)
    if problem:
        raise ValueError(problem)
    return name


class TextReader:
    """Reads one word of at most `max_length` characters, kept as written."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def __call__(self, words: Sequence[str]) -> str:
        text = _one(words, "a value")
        quoted = len(text) >= 2 and text[0] == '"' and text[-1] == '"'
        if quoted:
            text = text[1:-1]
        if len(text) > self.max_length:
            raise ValueError(
                f"value is {len(text)} characters long; the limit is {self.max_length}"
            )
        if quoted:
            # IBM's syntax diagrams show no quotes for these values; that Policy Agent
            # strips them is our reading.
            raise Tolerated(
                text,
                f"quoted value: read as {text!r} without its quotes (inferred: IBM's syntax"
                " diagrams show no quotes)",
            )
        return text


def text_reader(max_length: int) -> TextReader:
    return TextReader(max_length)


class LabelReader(TextReader):
    """A key ring label: up to 32 characters, and RACF labels may hold blanks.

    IBM's syntax diagrams show `CertificateLabel value` and say nothing of quotes or blanks.
    A quoted value ("Zowe Server") is read without its quotes and a label written as several
    words is read as one label with single blanks; both are our reading (inferred), so each
    is accepted with a warning. The renderer writes a label with a blank in quotes.
    """

    def __call__(self, words: Sequence[str]) -> str:
        if not words:
            raise ValueError("expected a value, got nothing")
        if len(words) == 1 and not words[0].startswith('"'):
            return super().__call__(words)
        joined = " ".join(words)
        quoted = joined.startswith('"') and joined.endswith('"') and len(joined) >= 2
        label = joined[1:-1] if quoted else joined.replace('"', "")
        if not label or len(label) > self.max_length:
            raise ValueError(
                f"label {joined} is {len(label)} characters long; the limit is {self.max_length}"
            )
        how = "quoted" if quoted else "written as several words"
        raise Tolerated(
            label,
            f"label {how}: read as {label!r}. IBM does not document quotes or blanks in"
            " labels; how Policy Agent reads them is inferred",
        )


def label_reader(max_length: int) -> LabelReader:
    return LabelReader(max_length)


def write_label(value: str) -> str:
    return f'"{value}"' if " " in value else value


def read_job_pattern(words: Sequence[str]) -> str:
    """A job name or user ID: 1-8 characters, optionally ending in the wildcard `*`."""
    word = _one(words, "a job name or user ID of 1 to 8 characters")
    bare = word.removesuffix("*")
    if word == "*" or (bare and len(bare) <= 8 and _JOB_CHARS.fullmatch(word)):
        return word.upper()
    if len(bare) > 8:
        raise ValueError(f"'{word}' is longer than 8 characters")
    raise ValueError(
        f"'{word}' is not a valid name: use letters, digits, @ $ and an optional trailing *"
    )


def read_port_range(words: Sequence[str]) -> Ports:
    """`n`, `n-m` or `n m`; 0 means any port."""
    if len(words) == 2:
        low_text, high_text = words
    elif len(words) == 1 and "-" in words[0]:
        low_text, _, high_text = words[0].partition("-")
    elif len(words) == 1:
        low_text = high_text = words[0]
    else:
        raise ValueError("expected a port (n) or a port range (n-m)")
    if not (low_text.isdigit() and high_text.isdigit()):
        raise ValueError(f"expected a port (n) or a port range (n-m), got '{' '.join(words)}'")
    low, high = int(low_text), int(high_text)
    if low > 65535 or high > 65535:
        raise ValueError(f"port {max(low, high)} is out of range 0-65535")
    if low > high:
        raise ValueError(f"port range {low}-{high} is reversed")
    return Ports(low, high)


def write_port_range(value: Ports) -> str:
    return str(value)


def read_address(words: Sequence[str]) -> Address:
    """`All`, an IPv4 or IPv6 address, `addr/prefix` or `addr-addr`."""
    text = _one(words, "All, an address, address/prefix or address-address")
    if text.lower() == "all":
        return Address.all()
    if text.isdigit():
        return _integer_address(text)
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=True)
            _refuse_mapped(network.network_address, text)
            return Address(
                "prefix",
                network.network_address,
                network.broadcast_address,
                network.prefixlen,
            )
        if "-" in text:  # IPv6 addresses never contain '-', so it always means a range
            first, _, last = text.partition("-")
            low, high = ipaddress.ip_address(first), ipaddress.ip_address(last)
            _refuse_mapped(low, text)
            _refuse_mapped(high, text)
            if low.version != high.version:
                raise ValueError(f"range '{text}' mixes IPv4 and IPv6")
            if int(low) > int(high):
                raise ValueError(f"address range '{text}' is reversed")
            return Address("range", low, high)
        address = ipaddress.ip_address(text)
        _refuse_mapped(address, text)
        return Address("addr", address, address)
    except Tolerated:
        raise
    except ValueError as error:
        message = str(error)
        if "does not appear to be" in message or "has host bits set" in message:
            raise ValueError(f"'{text}' is not a valid address, prefix or range") from None
        raise


def _integer_address(text: str) -> Address:
    """A bare number where an address belongs: PAGENT installs it as a 32-bit IPv4 address.

    Observed, not documented: the real z/OS 3.1 pasearch report beside the PAGENTTN policy
    shows `RemoteAddr 6793` installed as FromAddr/ToAddr 0.0.26.137 (6793 = 0x1A89).
    """
    number = int(text)
    if number > 0xFFFFFFFF:
        raise ValueError(f"'{text}' is not a valid address, prefix or range")
    address = ipaddress.IPv4Address(number)
    raise Tolerated(
        Address("addr", address, address),
        f"'{text}' is a number, not an address: Policy Agent installs it as {address}"
        " (observed in a real z/OS 3.1 pasearch report); it is almost certainly a port"
        " written where an address belongs",
    )


def _refuse_mapped(address: IPAddress, text: str) -> None:
    """IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are refused in AT-TLS policy conditions.

    IBM's address parameters for AT-TLS exclude IPv4-mapped IPv6 addresses (IP Configuration
    Reference, TTLSRule LocalAddr/RemoteAddr, as cited in issue 11; the exact sentence was not
    retrieved here). The reason given with the refusal - an IPv4 peer, even on an IPv6
    socket, is matched by its IPv4 address - is our reading of why.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        raise ValueError(
            f"'{text}' is an IPv4-mapped IPv6 address, which IBM does not allow in AT-TLS"
            " policy; an IPv4 peer is matched by its IPv4 address (inferred), so write"
            f" {address.ipv4_mapped}"
        )


def write_address(value: Address) -> str:
    return str(value)


def read_v3_ciphers(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(ciphers.parse_v3_cipher_suites(_one(words, "cipher codes or a cipher name")))


def read_v3_ciphers_4char(words: Sequence[str]) -> tuple[str, ...]:
    """4-character codes; a value PAGENT does not understand is ignored, as PAGENT ignores it.

    Observed: the real z/OS 3.1 report beside the PAGENTTN policy lists, for AZFCipherParms,
    only its V3CipherSuites lines; its `V3CipherSuites4Char <constant name>` lines (and one
    with a stray second word) left no trace, and the policy was installed.
    """
    if len(words) != 1:
        raise Tolerated(
            None,
            f"V3CipherSuites4Char takes one string of 4-character codes, got {len(words)} words;"
            " Policy Agent ignores the line (observed in a real z/OS 3.1 report), so these"
            " suites are not offered",
        )
    if "_" in words[0]:  # a constant name: what the real file did
        try:
            ciphers.parse_v3_cipher_suites_4char(words[0])
        except ValueError as error:
            raise Tolerated(
                None,
                f"{error}. Policy Agent ignores the line (observed in a real z/OS 3.1 report)",
            ) from None
    return tuple(ciphers.parse_v3_cipher_suites_4char(words[0]))


def write_v3_cipher(code: str) -> str:
    """One suite per `V3CipherSuites` line, by constant name: repeated lines concatenate."""
    return ciphers.by_code(code).iana_name


def read_group_codes(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(tlsgroups.parse_group_codes("".join(words)))


def read_sigalg_codes(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(tlsgroups.parse_sigalg_codes("".join(words)))


def read_group_codes_or_any(words: Sequence[str]) -> tuple[str, ...]:
    """`ClientECurves Any` keeps the keyword; otherwise the codes."""
    if len(words) == 1 and words[0].lower() == "any":
        return ("Any",)
    return read_group_codes(words)


def write_codes(codes: str) -> str:
    return codes


def read_words(words: Sequence[str]) -> str:
    """Free text of one or more words, kept as written (paths, time ranges)."""
    if not words:
        raise ValueError("expected a value")
    return " ".join(words)


Reader = Callable[[Sequence[str]], Any]
Writer = Callable[[Any], str]


def read_single_address(words: Sequence[str]) -> Address:
    value = read_address(words)
    if value.kind != "addr":
        raise ValueError(f"expected one address, got '{value}'")
    return value


def _strict_address(words: Sequence[str]) -> Address:
    try:
        return read_address(words)
    except Tolerated as tolerated:  # a bare number is an address at most, never a set member
        raise ValueError(str(tolerated)) from None


def read_prefix(words: Sequence[str]) -> Address:
    value = _strict_address(words)
    if value.kind != "prefix":
        raise ValueError(f"expected address/prefix-length, got '{value}'")
    return value


def read_range(words: Sequence[str]) -> Address:
    value = _strict_address(words)
    if value.kind != "range":
        raise ValueError(f"expected address-address, got '{value}'")
    return value
