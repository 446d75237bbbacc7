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
        if len(text) > self.max_length:
            raise ValueError(
                f"value is {len(text)} characters long; the limit is {self.max_length}"
            )
        return text


def text_reader(max_length: int) -> TextReader:
    return TextReader(max_length)


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
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=True)
            return Address(
                "prefix",
                network.network_address,
                network.broadcast_address,
                network.prefixlen,
            )
        if "-" in text:  # IPv6 addresses never contain '-', so it always means a range
            first, _, last = text.partition("-")
            low, high = ipaddress.ip_address(first), ipaddress.ip_address(last)
            if low.version != high.version:
                raise ValueError(f"range '{text}' mixes IPv4 and IPv6")
            if int(low) > int(high):
                raise ValueError(f"address range '{text}' is reversed")
            return Address("range", low, high)
        address = ipaddress.ip_address(text)
        return Address("addr", address, address)
    except ValueError as error:
        message = str(error)
        if "does not appear to be" in message or "has host bits set" in message:
            raise ValueError(f"'{text}' is not a valid address, prefix or range") from None
        raise


def write_address(value: Address) -> str:
    return str(value)


def read_v3_ciphers(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(ciphers.parse_v3_cipher_suites(_one(words, "cipher codes or a cipher name")))


def read_v3_ciphers_4char(words: Sequence[str]) -> tuple[str, ...]:
    return tuple(ciphers.parse_v3_cipher_suites_4char(_one(words, "4-character cipher codes")))


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


def read_prefix(words: Sequence[str]) -> Address:
    value = read_address(words)
    if value.kind != "prefix":
        raise ValueError(f"expected address/prefix-length, got '{value}'")
    return value


def read_range(words: Sequence[str]) -> Address:
    value = read_address(words)
    if value.kind != "range":
        raise ValueError(f"expected address-address, got '{value}'")
    return value
