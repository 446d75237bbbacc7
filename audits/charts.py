"""SVG charts for the evidence pack: plain strings, no Django, no scripts, nothing fetched.

WeasyPrint draws inline SVG as vectors, so the charts stay sharp when printed and their
labels are text an auditor can search and copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from attls.ciphers import Protocol

# The order protocols are shown in, best first; anything else comes after, then cleartext.
# Newest first, as the charts stack them: every version AT-TLS knows (SSLv2 included, in the
# order attls.ciphers.Protocol declares them), then cleartext.
PROTOCOL_ORDER = (*(p.value for p in reversed(Protocol)), "cleartext")
PROTOCOL_COLOURS = {
    "TLSv1.3": "#1f6f43",
    "TLSv1.2": "#5fa37a",
    "TLSv1.1": "#d9a23b",
    "TLSv1": "#d0752c",
    "SSLv3": "#a33a2a",
    "SSLv2": "#7a1f14",
    "cleartext": "#b3261e",
}
OTHER_COLOUR = "#8a8f98"
# "cleartext" is what the fleet counts for a connection no AT-TLS rule secured: cleartext, or
# the application's own TLS, which netstat cannot tell apart (fleet/presenters.py says the same).
PROTOCOL_LABELS = {p.value: p.label for p in Protocol} | {"cleartext": "No AT-TLS"}
FONT = "DejaVu Sans, sans-serif"

# What a table shows for a missing value: an en dash.
NONE_SHOWN = "\u2013"


def protocol_label(name: str) -> str:
    """`TLS 1.3`, `SSL 3.0` (attls.ciphers.Protocol.label), `No AT-TLS`; anything else as is."""
    return PROTOCOL_LABELS.get(name, name)


def ordered_protocols(counts: dict[str, int]) -> list[tuple[str, int]]:
    known = [(name, counts[name]) for name in PROTOCOL_ORDER[:-1] if counts.get(name)]
    others = sorted((name, n) for name, n in counts.items() if name not in PROTOCOL_ORDER and n)
    tail = [("cleartext", counts["cleartext"])] if counts.get("cleartext") else []
    return known + others + tail


def _pct(part: float, whole: float) -> str:
    if not whole:
        return NONE_SHOWN
    share = 100.0 * part / whole
    return f"{share:.1f} %" if share < 99.95 or part != whole else "100 %"


@dataclass(frozen=True)
class Bar:
    label: str  # shown left of the bar
    counts: dict[str, int]
    note: str = ""  # shown right of the bar, e.g. "coverage 97.5 %"


def stacked_bars(bars: Sequence[Bar], *, width: int = 640, title: str = "") -> str:
    """Horizontal 100 % bars of protocol counts, one per row, with a shared legend below."""
    label_width = 150
    note_width = 130
    bar_width = width - label_width - note_width - 10
    row = 30
    top = 22 if title else 4
    legend_names: list[str] = []
    parts = []
    if title:
        parts.append(
            f'<text x="0" y="13" font-size="11" font-weight="bold" fill="#1b2430">'
            f"{escape(title)}</text>"
        )
    for index, bar in enumerate(bars):
        y = top + index * row
        total = sum(bar.counts.values())
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="10" fill="#1b2430">{escape(bar.label)}</text>'
        )
        x = float(label_width)
        if not total:
            parts.append(
                f'<rect x="{label_width}" y="{y + 3}" width="{bar_width}" height="16"'
                f' fill="#eef0f3" stroke="#c9ced6" stroke-width="0.5"/>'
                f'<text x="{label_width + 6}" y="{y + 15}" font-size="9" fill="#5b6573">'
                "no connections observed</text>"
            )
        for name, count in ordered_protocols(bar.counts):
            if name not in legend_names:
                legend_names.append(name)
            share = bar_width * count / total
            colour = PROTOCOL_COLOURS.get(name, OTHER_COLOUR)
            parts.append(
                f'<rect x="{x:.2f}" y="{y + 3}" width="{share:.2f}" height="16" fill="{colour}">'
                f"<title>{escape(protocol_label(name))}: {count}</title></rect>"
            )
            if share >= 34:
                parts.append(
                    f'<text x="{x + share / 2:.2f}" y="{y + 14.5}" font-size="8.5" fill="#fff"'
                    f' text-anchor="middle">{_pct(count, total)}</text>'
                )
            x += share
        if bar.note:
            parts.append(
                f'<text x="{label_width + bar_width + 8}" y="{y + 15}" font-size="9.5"'
                f' fill="#1b2430">{escape(bar.note)}</text>'
            )
    legend_y = top + len(bars) * row + 6
    x = float(label_width)
    for name in legend_names:
        colour = PROTOCOL_COLOURS.get(name, OTHER_COLOUR)
        label = protocol_label(name)
        parts.append(
            f'<rect x="{x:.1f}" y="{legend_y}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="{legend_y + 9}" font-size="9" fill="#1b2430">'
            f"{escape(label)}</text>"
        )
        x += 26 + 6.2 * len(label)
    height = legend_y + 16
    return _svg(width, height, "".join(parts), title or "Protocol mix")


def protocol_table(counts: dict[str, int]) -> list[dict[str, object]]:
    """Rows for the table beside a chart: protocol, connections, share."""
    total = sum(counts.values())
    return [
        {
            "name": protocol_label(name),
            "key": name,
            "count": count,
            "share": _pct(count, total),
            "colour": PROTOCOL_COLOURS.get(name, OTHER_COLOUR),
        }
        for name, count in ordered_protocols(counts)
    ]


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    width: int = 640,
    height: int = 150,
    title: str = "",
    floor: float = 0.0,
) -> str:
    """A line of percentages (0..1) over labelled days; gaps where a value is None."""
    left, right, top, bottom = 40, 10, 22 if title else 8, 22
    plot_w = width - left - right
    plot_h = height - top - bottom
    parts = []
    if title:
        parts.append(
            f'<text x="0" y="13" font-size="11" font-weight="bold" fill="#1b2430">'
            f"{escape(title)}</text>"
        )
    span = 1.0 - floor if floor < 1.0 else 1.0
    for tick in range(5):
        value = floor + span * tick / 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"'
            f' stroke="#dde1e7" stroke-width="0.6"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="8" fill="#5b6573"'
            f' text-anchor="end">{value * 100:.0f} %</text>'
        )
    count = len(points)
    step = plot_w / max(count - 1, 1)
    path: list[str] = []
    for index, (_label, value) in enumerate(points):
        x = left + step * index
        if value is None:
            if path:
                parts.append(_polyline(path))
            path = []
            continue
        y = top + plot_h - plot_h * (max(value, floor) - floor) / span
        path.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.8" fill="#1f4e79"/>')
    if path:
        parts.append(_polyline(path))
    every = max(1, count // 8)
    for index, (label, _) in enumerate(points):
        if index % every == 0 or index == count - 1:
            x = left + step * index
            parts.append(
                f'<text x="{x:.1f}" y="{height - 6}" font-size="8" fill="#5b6573"'
                f' text-anchor="middle">{escape(label)}</text>'
            )
    return _svg(width, height, "".join(parts), title or "Trend")


def _polyline(points: list[str]) -> str:
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#1f4e79" stroke-width="1.4"/>'
    )


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}"'
        f' font-family="{FONT}">{body}</svg>'
    )
