"""The Policy Agent file chain: pagent.conf -> TcpImage -> image file -> TTLSConfig.

PAGENT's main file has one `TcpImage` (or `PEPInstance`) statement per TCP/IP stack,
naming the stack and, optionally, an image file; the image file's `TTLSConfig` names
the AT-TLS policy file. A `CommonTTLSConfig` in the main file names a policy shared by
every stack, read before the stack's own file. When a TcpImage names no file, the
statements of the main file itself apply to that stack; a main file with no TcpImage
at all applies to the default stack.

A common mistake is a TcpImage that names the AT-TLS policy file directly: PAGENT then
finds no TTLSConfig and installs nothing ("No policies retrieved"). `resolve_stack`
reproduces that rather than guessing what was meant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from attls.errors import PolicySyntaxError, Problem
from attls.policy.model import Policy
from attls.policy.parser import parse_policy_files
from attls.policy.syntax import Node, SourceText, parse_tree

DEFAULT_REFRESH_SECONDS = 1800
DEFAULT_LOG_LEVEL = 31

# Statements of other policy types that may appear in these files; not ours to read.
_OTHER_POLICY_STATEMENTS = frozenset(
    s.lower()
    for s in (
        "IpSecConfig",
        "CommonIpSecConfig",
        "QOSConfig",
        "IDSConfig",
        "RoutingConfig",
        "DynamicConfigPolicyLoad",
        "PolicyServer",
        "ServiceDefinition",
    )
)


@dataclass(frozen=True, slots=True)
class TcpImage:
    stack: str
    config_file: str | None = None
    flush: bool | None = None
    purge: bool | None = None
    refresh_seconds: int | None = None

    @property
    def effective_refresh_seconds(self) -> int:
        return self.refresh_seconds if self.refresh_seconds is not None else DEFAULT_REFRESH_SECONDS


@dataclass(frozen=True, slots=True)
class TTLSConfigRef:
    """A `TTLSConfig` or `CommonTTLSConfig` statement: which policy file, FLUSH and PURGE."""

    path: str
    flush: bool | None = None
    purge: bool | None = None


@dataclass
class PagentConfig:
    """What PAGENT reads from a main or image configuration file."""

    images: list[TcpImage] = field(default_factory=list)
    ttls_config: TTLSConfigRef | None = None
    common_ttls_config: TTLSConfigRef | None = None
    log_level: int | None = None
    codepage: str | None = None
    # Statements of other policy types (IPSec, QoS, ...), by keyword as written.
    other_statements: list[str] = field(default_factory=list)

    def image(self, stack: str) -> TcpImage | None:
        wanted = stack.upper()
        return next((image for image in self.images if image.stack.upper() == wanted), None)


def parse_pagent_config(text: str, *, source: str | None = None) -> PagentConfig:
    """Reads pagent.conf or an image file. Raises PolicySyntaxError with every problem."""
    lines = SourceText(text)
    tree, problems = parse_tree(text, lines)
    config = PagentConfig()
    seen: dict[str, Node] = {}

    def problem(node: Node, word: int, message: str) -> None:
        problems.append(lines.problem(node.line, node.word_index + word, message))

    for node in tree:
        keyword = node.keyword.lower()
        if keyword == "{":
            continue
        if keyword in _OTHER_POLICY_STATEMENTS:
            config.other_statements.append(node.keyword)
            continue
        if node.children is not None:
            problem(node, 0, f"{node.keyword} does not take a block")
            continue
        if keyword in ("ttlsconfig", "commonttlsconfig", "loglevel", "codepage"):
            if keyword in seen:
                problem(
                    node, 0, f"{node.keyword} is given twice (first on line {seen[keyword].line})"
                )
                continue
            seen[keyword] = node
        if keyword in ("tcpimage", "pepinstance"):
            image = _tcp_image(node, problem)
            if image is not None:
                if config.image(image.stack) is not None:
                    problem(node, 1, f"TcpImage for stack {image.stack} is given twice")
                else:
                    config.images.append(image)
        elif keyword == "ttlsconfig":
            config.ttls_config = _config_ref(node, problem)
        elif keyword == "commonttlsconfig":
            config.common_ttls_config = _config_ref(node, problem)
        elif keyword == "loglevel":
            if len(node.values) == 1 and node.values[0].isdigit():
                config.log_level = int(node.values[0])
            else:
                problem(node, 1, "LogLevel takes one whole number (a sum of 1, 2, 4, ... 256)")
        elif keyword == "codepage":
            if len(node.values) == 1:
                config.codepage = node.values[0]
            else:
                problem(node, 1, "Codepage takes one code page name, such as IBM-1047")
        else:
            problem(node, 0, f"unknown statement '{node.keyword}' in a Policy Agent configuration")
    if problems:
        raise PolicySyntaxError(problems, source)
    return config


def _flags(
    node: Node, words: list[str], first_word: int, problem: Callable[[Node, int, str], None]
) -> tuple[bool | None, bool | None, int | None]:
    flush: bool | None = None
    purge: bool | None = None
    seconds: int | None = None
    for offset, word in enumerate(words):
        upper = word.upper()
        if upper in ("FLUSH", "NOFLUSH"):
            flush = upper == "FLUSH"
        elif upper in ("PURGE", "NOPURGE"):
            purge = upper == "PURGE"
        elif word.isdigit() and seconds is None:
            seconds = int(word)
            if not 1 <= seconds <= 2147483647:
                problem(node, first_word + offset, "refresh interval is out of range 1-2147483647")
        else:
            problem(
                node,
                first_word + offset,
                f"'{word}' is not FLUSH, NOFLUSH, PURGE, NOPURGE or a refresh interval",
            )
    return flush, purge, seconds


def _tcp_image(node: Node, problem: Callable[[Node, int, str], None]) -> TcpImage | None:
    args = node.values
    if not args:
        problem(node, 0, f"{node.keyword} needs the name of a TCP/IP stack")
        return None
    stack = args[0]
    rest = args[1:]
    config_file: str | None = None
    if rest and (rest[0].startswith("/") or rest[0].startswith("//")):
        config_file = rest[0]
        rest = rest[1:]
        first = 3
    else:
        first = 2
    flush, purge, seconds = _flags(node, rest, first, problem)
    return TcpImage(stack, config_file, flush, purge, seconds)


def _config_ref(node: Node, problem: Callable[[Node, int, str], None]) -> TTLSConfigRef | None:
    args = node.values
    if not args:
        problem(node, 0, f"{node.keyword} needs the name of a policy file")
        return None
    flush, purge, seconds = _flags(node, args[1:], 2, problem)
    if seconds is not None:
        problem(node, 2, f"{node.keyword} takes no refresh interval; put it on TcpImage")
    return TTLSConfigRef(args[0], flush, purge)


@dataclass(frozen=True, slots=True)
class StackFiles:
    """Which files make up one stack's AT-TLS policy, as PAGENT would find them."""

    stack: str
    image_file: str | None
    common_policy_file: str | None
    policy_file: str | None
    refresh_seconds: int

    @property
    def policy_files(self) -> list[str]:
        """The policy files to read, common file first."""
        return [f for f in (self.common_policy_file, self.policy_file) if f is not None]


def resolve_stack(main: PagentConfig, stack: str, read: Callable[[str], str]) -> StackFiles:
    """Follows the chain for one stack. `read(path)` returns a file's text.

    Raises PolicySyntaxError (with the file name) when the image file cannot be read as a
    configuration file, and KeyError when the main file has no TcpImage for the stack
    while it has TcpImage statements for others.
    """
    common = main.common_ttls_config.path if main.common_ttls_config else None
    image = main.image(stack)
    if image is None:
        if main.images:
            raise KeyError(f"pagent.conf has no TcpImage statement for stack {stack}")
        policy = main.ttls_config.path if main.ttls_config else None
        return StackFiles(stack, None, common, policy, DEFAULT_REFRESH_SECONDS)
    if image.config_file is None:
        policy = main.ttls_config.path if main.ttls_config else None
        return StackFiles(stack, None, common, policy, image.effective_refresh_seconds)
    image_text = read(image.config_file)
    try:
        image_config = parse_pagent_config(image_text, source=image.config_file)
    except PolicySyntaxError as error:
        # A TcpImage pointing straight at the AT-TLS policy file: PAGENT finds no TTLSConfig.
        if _looks_like_ttls_policy(image_text):
            return StackFiles(
                stack, image.config_file, common, None, image.effective_refresh_seconds
            )
        raise error
    policy = image_config.ttls_config.path if image_config.ttls_config else None
    return StackFiles(stack, image.config_file, common, policy, image.effective_refresh_seconds)


def _looks_like_ttls_policy(text: str) -> bool:
    lowered = text.lower()
    return "ttlsrule" in lowered or "ttlsgroupaction" in lowered


def load_stack_policy(files: StackFiles, read: Callable[[str], str]) -> Policy:
    """Reads and merges the policy files of a stack (common first, later definitions win)."""
    return parse_policy_files([(path, read(path)) for path in files.policy_files])


__all__ = [
    "DEFAULT_REFRESH_SECONDS",
    "PagentConfig",
    "Problem",
    "StackFiles",
    "TTLSConfigRef",
    "TcpImage",
    "load_stack_policy",
    "parse_pagent_config",
    "resolve_stack",
]
