"""How the fleet's figures are shown: protocol bars, charts over time, badges. No queries here.

Charts are server-rendered SVG (the Content-Security-Policy allows no inline style, and no
chart library is vendored): geometry is computed here, the templates only draw rectangles
with classes that static/css/fleet.css colours.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from policies.diffs import DiffLine, diff_rows, diff_stats, truncated

if TYPE_CHECKING:
    from fleet.selectors import LiveText
    from policies.models import Stack

from attls.ciphers import Protocol
from attls.returncodes import family_label, family_of

# Strongest first (attls.ciphers.Protocol declares them oldest first, with their labels);
# "cleartext" is what fleet/verify counts for a connection no AT-TLS rule secured: cleartext, or
# the application's own TLS, which netstat cannot tell apart.
PROTOCOL_ORDER = (*(p.value for p in reversed(Protocol)), "cleartext", "no-tls")
PROTOCOL_LABELS = {p.value: p.label for p in Protocol} | {
    "cleartext": "no AT-TLS",
    "no-tls": "no TLS",  # a port, by the probe: it answers in cleartext
}
DEPRECATED = frozenset(p.value for p in Protocol if p not in (Protocol.TLSV1_2, Protocol.TLSV1_3))


def protocol_css(protocol: str) -> str:
    """`p-tls13`, `p-tls10`, `p-none`: the class that colours a protocol everywhere."""
    return {
        "TLSv1.3": "p-tls13",
        "TLSv1.2": "p-tls12",
        "TLSv1.1": "p-tls11",
        "TLSv1": "p-tls10",
        "SSLv3": "p-ssl",
        "SSLv2": "p-ssl",
        "cleartext": "p-none",
        "no-tls": "p-none",
    }.get(protocol, "p-other")


def protocol_label(protocol: str) -> str:
    return PROTOCOL_LABELS.get(protocol, protocol or "no AT-TLS")


def _ordered(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    known = [(p, counts[p]) for p in PROTOCOL_ORDER if counts.get(p)]
    other = sorted((p, n) for p, n in counts.items() if p not in PROTOCOL_ORDER and n)
    return known + other


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def head(text: str, limit: int) -> str:
    """The beginning of `text`, at most `limit` characters, cut at the end of a line."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut + 1 if cut > 0 else limit]


def pretty_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def duration(start: datetime | None, end: datetime | None) -> str:
    """`4.2 s`, `3 min 12 s`, `2 h 05 min`; empty when it has not started."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def percent(part: int | float, whole: int | float) -> str:
    """`87%`, `99.6%`, `<0.1%`: a share a reader can compare at a glance, never rounded up to
    100% or down to 0% when it is not."""
    if not whole:
        return "\N{EN DASH}"
    if part == whole:
        return "100%"
    share = 100 * part / whole
    if share == 0:
        return "0%"
    if share < 0.1:
        return "<0.1%"
    if share < 9.95 or share >= 99.5:
        text = f"{share:.1f}"
        return ">99.9%" if text == "100.0" else f"{text.removesuffix('.0')}%"
    return f"{share:.0f}%"


# --- one horizontal bar of the protocol mix -------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    protocol: str
    count: int
    x: float
    width: float
    share: str

    @property
    def css(self) -> str:
        return protocol_css(self.protocol)

    @property
    def label(self) -> str:
        return protocol_label(self.protocol)


@dataclass(frozen=True)
class Bar:
    """A 100 % stacked bar: one segment per protocol, strongest on the left."""

    segments: list[Segment]
    total: int
    width: int
    height: int

    @property
    def empty(self) -> bool:
        return self.total == 0


def protocol_bar(counts: Mapping[str, int], *, width: int = 240, height: int = 14) -> Bar:
    total = sum(counts.values())
    segments: list[Segment] = []
    x = 0.0
    for protocol, count in _ordered(counts) if total else []:
        span = width * count / total
        segments.append(
            Segment(protocol, count, round(x, 2), round(span, 2), percent(count, total))
        )
        x += span
    return Bar(segments, total, width, height)


# --- the protocol mix over time -------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    start: datetime
    total: int
    x: float
    width: float
    rects: list[tuple[str, float, float, int]]  # css class, y, height, count
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass
class Chart:
    """Stacked columns, each the protocol shares of one bucket of hours (100 % high)."""

    columns: list[Column]
    width: int
    height: int
    ticks: list[Tick]
    protocols: list[str] = field(default_factory=list)
    peak: int = 0

    @property
    def empty(self) -> bool:
        return not any(column.total for column in self.columns)

    @property
    def legend(self) -> list[tuple[str, str]]:
        return [(protocol_css(p), protocol_label(p)) for p in self.protocols]


WINDOWS = {"24h": (timedelta(hours=24), 1), "7d": (timedelta(days=7), 6)}


def mix_chart(
    hours: Iterable[Any],
    *,
    now: datetime,
    window: str = "24h",
    width: int = 480,
    height: int = 72,
) -> Chart:
    """From ServiceHour rows (hour, protocols): columns of 1 h (24 h) or 6 h (7 d)."""
    span, step = WINDOWS[window]
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - span
    buckets = int(span / timedelta(hours=step))
    sums: list[dict[str, int]] = [{} for _ in range(buckets)]
    for row in hours:
        if not start <= row.hour < end:
            continue
        index = int((row.hour - start) / timedelta(hours=step))
        for protocol, count in (row.protocols or {}).items():
            sums[index][protocol] = sums[index].get(protocol, 0) + int(count)
    pitch = width / buckets
    gap = 1.0 if pitch > 4 else 0.0
    columns: list[Column] = []
    seen: set[str] = set()
    for index, counts in enumerate(sums):
        total = sum(counts.values())
        bucket_start = start + timedelta(hours=index * step)
        # Strongest at the bottom, so the good share reads as a rising floor.
        y = float(height)
        rects = []
        for protocol, count in _ordered(counts):
            seen.add(protocol)
            h = height * count / total
            y -= h
            rects.append((protocol_css(protocol), round(y, 2), round(h, 2), count))
        parts = ", ".join(
            f"{protocol_label(p)} {n} ({percent(n, total)})" for p, n in _ordered(counts)
        )
        label = f"{bucket_start:%Y-%m-%d %H:00} UTC"
        if step > 1:
            label += f" +{step} h"
        columns.append(
            Column(
                start=bucket_start,
                total=total,
                x=round(index * pitch, 2),
                width=round(max(pitch - gap, 0.5), 2),
                rects=rects,
                title=f"{label}: {total} connection(s)" + (f" · {parts}" if parts else ""),
            )
        )
    tick_every = 6 if window == "24h" else 4  # every 6 h, or every day (4 times 6 h)
    ticks = [
        Tick(round(column.x, 2), column.start.strftime("%H:%M" if window == "24h" else "%a %d"))
        for index, column in enumerate(columns)
        if index % tick_every == 0
    ]
    return Chart(
        columns=columns,
        width=width,
        height=height,
        ticks=ticks,
        protocols=[p for p in PROTOCOL_ORDER if p in seen] + sorted(seen - set(PROTOCOL_ORDER)),
        peak=max((column.total for column in columns), default=0),
    )


# --- badges ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Badge:
    key: str
    label: str
    css: str
    why: str = ""


SERVICE_BADGES = {
    "secured": ("secured", "status-ok"),
    "partly": ("partly secured", "status-warn"),
    "refusing": ("refusing clients", "status-fail"),
    "cleartext": ("cleartext", "status-fail"),
    "not-deployed": ("not deployed", "badge-muted"),
    "not-verified": ("not verified", "badge-muted"),
}


def service_badge(entry: Mapping[str, Any] | None, *, policy_deployed: bool = True) -> Badge:
    """What an app owner needs first: is my service secured by AT-TLS, from the last run.

    - not verified: no verification has looked at the stack yet;
    - not deployed: the deployed policy has no rule for it (or nothing is deployed);
    - cleartext: it has live connections and AT-TLS secures none of them;
    - refusing: AT-TLS logged failed handshakes (EZD1286I) for its rule since the previous
      verification, whatever the coverage (not counting the handshakes it refused to the
      portal's own probe, which offers refused versions and suites on purpose: those are
      `probe_refusals`);
    - partly: some connections are not secured, one uses an unexpected rule, the port still
      accepts a deprecated protocol or no longer speaks TLS to new connections;
    - secured: every live connection is secured by its rule, the port accepts only what the
      policy allows.
    """
    if entry is None:
        return _badge("not-verified", "No verification has looked at this stack yet.")
    if not entry.get("in_scope"):
        if not policy_deployed:
            return _badge("not-deployed", "No AT-TLS policy is deployed to its stack yet.")
        return _badge("not-deployed", "The policy deployed to its stack has no rule for it.")
    connections = entry.get("connections") or 0
    secured = entry.get("secured") or 0
    deprecated = entry.get("probe_deprecated") or []
    unexpected = entry.get("unexpected_rule") or []
    if connections and not secured:
        return _badge("cleartext", f"None of {connections} live connection(s) is secured.")
    if not connections and entry.get("probe_tls") is False:
        return _badge("cleartext", "No live connections, and the port does not speak TLS.")
    reasons = []
    if secured < connections:
        reasons.append(f"{connections - secured} of {connections} connection(s) not secured")
    if unexpected:
        reasons.append(f"{len(unexpected)} secured by another rule")
    if deprecated:
        reasons.append("the port accepts " + ", ".join(protocol_label(p) for p in deprecated))
    if entry.get("probe_tls") is False and connections:
        reasons.append("the port answers new connections in cleartext")
    if entry.get("probe_tls") and not entry.get("probe_protocols"):
        reasons.append("the port answers TLS but completed no handshake the probe offered")
    if entry.get("not_probed") and not connections:
        # Nothing confirms it: no connection was seen and the port could not be probed.
        reasons.append(f"no live connections and not probed: {entry['not_probed']}")
    failed = sum((entry.get("handshake_failures") or {}).values())
    if failed:
        # Coverage counts sessions; a refused client never becomes one, so a service with
        # refusals is never shown as secured, whatever its coverage.
        reasons.insert(0, f"AT-TLS refused {refused_text(entry)} since the previous verification")
        why = "; ".join(reasons)
        return _badge("refusing", why[0].upper() + why[1:] + ".")
    if reasons:
        why = "; ".join(reasons)
        return _badge("partly", why[0].upper() + why[1:] + ".")
    return _badge("secured", "Every live connection is secured by its rule.")


def _badge(key: str, why: str) -> Badge:
    label, css = SERVICE_BADGES[key]
    return Badge(key, label, css, why)


@dataclass(frozen=True)
class Expiry:
    days: int
    label: str
    css: str


def certificate_expiry(not_after: datetime, now: datetime) -> Expiry:
    """Days left and the alert band: expired, 7 days, 30 days, fine."""
    seconds = (not_after - now).total_seconds()
    days = int(seconds // 86400)
    if seconds <= 0:
        return Expiry(days, "expired", "status-fail")
    if seconds <= 7 * 86400:
        return Expiry(days, "≤ 7 days", "status-fail")
    if seconds <= 30 * 86400:
        return Expiry(days, "≤ 30 days", "status-warn")
    return Expiry(days, "valid", "status-ok")


# --- the "before" state of a stack: what the probe says the applications accept -------------------


@dataclass(frozen=True)
class PortSummary:
    """From the probe of every service port: who speaks TLS by itself, and which versions."""

    probed: int
    cleartext: int
    app_tls: int
    deprecated: int  # ports that accept TLS 1.0 / 1.1 (or worse)
    weakest: dict[str, int]  # weakest version each port accepts -> number of ports

    @property
    def bar(self) -> Bar:
        counts = dict(self.weakest)
        if self.cleartext:
            counts["no-tls"] = self.cleartext
        return protocol_bar(counts)


def port_summary(services: Mapping[str, Mapping[str, Any]]) -> PortSummary:
    probed = cleartext = app_tls = deprecated = 0
    weakest: dict[str, int] = {}
    for entry in services.values():
        protocols: Sequence[str] = entry.get("probe_protocols") or []
        if entry.get("probe_tls") is None and not protocols:
            continue  # not probed (outbound, or no port)
        probed += 1
        if not protocols:
            cleartext += 1
            continue
        app_tls += 1
        if any(p in DEPRECATED for p in protocols):
            deprecated += 1
        worst = next((p for p in reversed(PROTOCOL_ORDER) if p in protocols), protocols[0])
        weakest[worst] = weakest.get(worst, 0) + 1
    return PortSummary(probed, cleartext, app_tls, deprecated, weakest)


def failures_text(failures: Mapping[str, int] | None) -> str:
    """Failed handshakes per System SSL return code: `RC 401`, then how many times."""
    return ", ".join(
        f"RC {rc} \N{MULTIPLICATION SIGN}{n}"
        for rc, n in sorted((failures or {}).items(), key=lambda item: item[0])
    )


def refused_text(entry: Mapping[str, Any] | None) -> str:
    """`12 attempt(s): 8 cleartext client on a TLS rule (RC 5003), 4 protocol version mismatch
    (RC 412)`: a service's refused attempts by family, with the codes."""
    entry = entry or {}
    failures: Mapping[str, int] = entry.get("handshake_failures") or {}
    total = sum(failures.values())
    if not total:
        return ""
    by_family: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for rc, n in sorted(failures.items(), key=lambda item: -item[1]):
        label = family_label(family_of(rc), code=rc)
        by_family.setdefault(label, []).append(rc)
        counts[label] = counts.get(label, 0) + n
    parts = [
        f"{counts[label]} {label} (RC {', '.join(codes)})" for label, codes in by_family.items()
    ]
    return f"{total} attempt(s): " + ", ".join(parts)


def refused_peers_text(entry: Mapping[str, Any] | None, limit: int = 5) -> str:
    peers: Mapping[str, int] = (entry or {}).get("refused_peers") or {}
    shown = ", ".join(
        f"{peer} \N{MULTIPLICATION SIGN}{n}" for peer, n in list(peers.items())[:limit]
    )
    return shown + (f" and {len(peers) - limit} more" if len(peers) > limit else "")


def probe_refusals_text(refusals: Mapping[str, int] | None) -> str:
    """What the failed-handshake figure leaves out: AT-TLS refusing the portal's own probe."""
    total = sum((refusals or {}).values())
    if not total:
        return ""
    return (
        f"Not counted: {total} handshake(s) AT-TLS refused to the portal's own probe"
        f" ({failures_text(refusals)}), which offers versions and suites the policy refuses"
        " on purpose; they are matched by the probe's source sockets and kept apart as"
        " probe refusals."
    )


@dataclass(frozen=True)
class ServiceRow:
    """One service's figures from a verification, ready to show."""

    name: str
    entry: Mapping[str, Any]
    badge: Badge
    bar: Bar
    failures: str
    failures_total: int
    probe_refusals: str = ""  # the explanation, empty when the probe was refused nothing
    probe_refusals_total: int = 0

    @property
    def failure_codes(self) -> str:
        return failure_codes(self.entry.get("handshake_failures"))

    @property
    def refused(self) -> str:
        return refused_text(self.entry)

    @property
    def refused_peers(self) -> str:
        return refused_peers_text(self.entry)


def service_rows(
    services: Mapping[str, Mapping[str, Any]], *, policy_deployed: bool
) -> list[ServiceRow]:
    return [
        ServiceRow(
            name=name,
            entry=entry,
            badge=service_badge(entry, policy_deployed=policy_deployed),
            bar=protocol_bar(entry.get("protocols") or {}, width=140),
            failures=failures_text(entry.get("handshake_failures")),
            failures_total=sum((entry.get("handshake_failures") or {}).values()),
            probe_refusals=probe_refusals_text(entry.get("probe_refusals")),
            probe_refusals_total=sum((entry.get("probe_refusals") or {}).values()),
        )
        for name, entry in sorted(services.items())
    ]


def failure_codes(failures: Mapping[str, int] | None) -> str:
    """`RC 402 · 406 · 412`: which return codes, without the counts."""
    codes = sorted(failures or {}, key=lambda rc: int(rc) if rc.isdigit() else 0)
    return ("RC " + " \N{MIDDLE DOT} ".join(codes)) if codes else ""


# --- what a deployment would change ---------------------------------------------------------------


@dataclass(frozen=True)
class LiveDiff:
    """What a deployment would change on one stack: its text against the one live there."""

    stack: Stack
    live: LiveText | None
    rows: list[DiffLine]
    omitted: int

    @property
    def counts(self) -> tuple[int, int]:
        return diff_stats(self.rows)


def live_diff(stack: Stack, live: LiveText | None, text: str, *, to_label: str) -> LiveDiff:
    """The diff of `text` against the live text (fleet.selectors.live_policy_text)."""
    rows, omitted = truncated(
        diff_rows(
            live.text if live is not None else "",
            text,
            from_label=f"{stack.label} live: {live.label}"
            if live is not None
            else f"{stack.label} live: no policy deployed by the portal",
            to_label=to_label,
        )
    )
    return LiveDiff(stack=stack, live=live, rows=rows, omitted=omitted)


@dataclass(frozen=True)
class FileDriftDiff:
    """Why a deployment stopped on file drift: the live file found against the text expected
    there (last-known-good), as a unified diff with both SHA-256 digests."""

    stack: Stack
    path: str
    expected_label: str
    expected_sha256: str
    found_sha256: str
    rows: list[DiffLine]
    omitted: int

    @property
    def counts(self) -> tuple[int, int]:
        return diff_stats(self.rows)


def file_drift_diff(
    stack: Stack,
    *,
    expected: str,
    expected_label: str,
    expected_sha256: str,
    found: str,
    found_sha256: str,
) -> FileDriftDiff:
    rows, omitted = truncated(
        diff_rows(
            expected,
            found,
            from_label=f"expected: {expected_label} (sha256 {expected_sha256})",
            to_label=f"found: {stack.policy_file} on {stack.lpar.name} (sha256 {found_sha256})",
        )
    )
    return FileDriftDiff(
        stack=stack,
        path=stack.policy_file,
        expected_label=expected_label,
        expected_sha256=expected_sha256,
        found_sha256=found_sha256,
        rows=rows,
        omitted=omitted,
    )
