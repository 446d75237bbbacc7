"""The peer file of `python -m attls impact`: one row per peer, as z/OS sees it.

    direction,local_port,remote_address,remote_port,job,versions,suites,client_cert
    Inbound,992,10.1.2.3,0,TN3270A,TLSv1;TLSv1.1,C013,no

`versions` are `;`-separated words of `attls.impact.VERSION_WORDS`, `suites` `;`-separated
4-hex codes, `client_cert` yes or no. Every error names its line and column (1-based).
"""

from __future__ import annotations

import csv
import io
import ipaddress
from typing import Final

from attls.impact.model import VERSION_WORDS, ImpactInputError, PeerObservation
from attls.matching import DIRECTIONS

__all__ = ["PEERS_CSV_HEADER", "parse_suites", "parse_versions", "read_peers_csv"]

_VERSION_SET: Final = frozenset(VERSION_WORDS)


def parse_versions(text: str) -> frozenset[str]:
    """`;`-separated version words; ImpactInputError names a word that is not one."""
    words = [w.strip() for w in text.split(";") if w.strip()]
    unknown = [w for w in words if w not in _VERSION_SET]
    if unknown:
        raise ImpactInputError(
            f"unknown version {unknown[0]!r}; expected one of {', '.join(VERSION_WORDS)}"
        )
    return frozenset(words)


def parse_suites(text: str) -> frozenset[str]:
    """`;`-separated 4-hex cipher codes, upper-cased."""
    codes = [c.strip().upper() for c in text.split(";") if c.strip()]
    for code in codes:
        if len(code) != 4 or any(ch not in "0123456789ABCDEF" for ch in code):
            raise ImpactInputError(f"cipher suite {code!r} is not a 4-hex code such as C02F")
    return frozenset(codes)


PEERS_CSV_HEADER: Final[tuple[str, ...]] = (
    "direction",
    "local_port",
    "remote_address",
    "remote_port",
    "job",
    "versions",
    "suites",
    "client_cert",
)


def read_peers_csv(text: str) -> list[PeerObservation]:
    """Peers from the CLI's CSV (header PEERS_CSV_HEADER); an error names line and column.

    A row with empty `versions` is a known peer with no connection in the window (no-data).
    """
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(rows, None)
        if header is None:
            raise ImpactInputError(
                "empty file: expected the header " + ",".join(PEERS_CSV_HEADER), 1, 1
            )
        names = tuple(h.strip() for h in header)
        if names != PEERS_CSV_HEADER:
            column = next(
                (
                    i
                    for i, pair in enumerate(zip(names, PEERS_CSV_HEADER, strict=False))
                    if pair[0] != pair[1]
                ),
                min(len(names), len(PEERS_CSV_HEADER)),
            )
            raise ImpactInputError(
                "the header must be exactly " + ",".join(PEERS_CSV_HEADER), 1, column + 1
            )
        peers: list[PeerObservation] = []
        for row in rows:
            line = rows.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(PEERS_CSV_HEADER):
                raise ImpactInputError(
                    f"expected {len(PEERS_CSV_HEADER)} fields, found {len(row)}",
                    line,
                    min(len(row), len(PEERS_CSV_HEADER)) + 1,
                )
            peers.append(_peer_row(row, line))
        return peers
    except csv.Error as error:
        raise ImpactInputError(f"unreadable CSV: {error}", rows.line_num or 1, 1) from None


def _peer_row(row: list[str], line: int) -> PeerObservation:
    cells = [cell.strip() for cell in row]

    def fail(column: str, message: str) -> ImpactInputError:
        return ImpactInputError(f"{column}: {message}", line, PEERS_CSV_HEADER.index(column) + 1)

    direction = cells[0].capitalize()
    if direction not in DIRECTIONS:
        raise fail("direction", f"expected Inbound or Outbound, got {cells[0]!r}")
    ports: list[int] = []
    for column, cell in (("local_port", cells[1]), ("remote_port", cells[3])):
        if not cell.isascii() or not cell.isdigit() or int(cell) > 65535:
            raise fail(column, f"expected a port 0-65535, got {cell!r}")
        ports.append(int(cell))
    address = cells[2]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise fail("remote_address", f"expected an IPv4 or IPv6 address, got {address!r}") from None
    job = cells[4] or None
    if job is not None and (
        len(job) > 8 or not job.isascii() or not all(ch.isalnum() or ch in "@#$*" for ch in job)
    ):
        raise fail("job", f"expected a job name of 1-8 characters, got {job!r}")
    try:
        versions = parse_versions(cells[5])
    except ImpactInputError as error:
        raise fail("versions", error.message) from None
    try:
        suites = parse_suites(cells[6])
    except ImpactInputError as error:
        raise fail("suites", error.message) from None
    cert = cells[7].lower()
    if cert not in ("yes", "no"):
        raise fail("client_cert", f"expected yes or no, got {cells[7]!r}")
    return PeerObservation(
        direction=direction,
        local_port=ports[0],
        remote_address=address,
        remote_port=ports[1],
        job=job.upper() if job else None,
        versions=versions,
        suites=suites,
        client_cert=cert == "yes",
    )
