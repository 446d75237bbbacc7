"""The campaign page's SVG, server-rendered as plain strings (no script, nothing fetched), as
the evidence charts are: a timeline of phases and cohorts, and each gate check's values over
the bake time. Labels are text, so a person can search and copy them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

FONT = "system-ui, sans-serif"
# A box's state -> fill, stroke, text colour.
STATE_COLOURS = {
    "done": ("#e2f1e7", "#1f6f43", "#1f6f43"),
    "current": ("#e3edf7", "#1d5fa3", "#1d5fa3"),
    "held": ("#fbe4e1", "#b3261e", "#b3261e"),
    "skipped": ("#fcf1da", "#a86a00", "#7a4d00"),
    "aborted": ("#eceef1", "#6b7280", "#6b7280"),
    "future": ("#ffffff", "#c4c9d1", "#6b7280"),
}
VERDICT_COLOURS = {"passing": "#1f6f43", "failed": "#b3261e", "waiting": "#8a8f98"}


@dataclass(frozen=True)
class Box:
    label: str  # "Inventory", "Pilot: Low tier"
    state: str  # a key of STATE_COLOURS
    note: str = ""  # below the label: "passed", "baking 40 %"
    progress: float | None = None  # 0..1: the bake's share elapsed, drawn as a bar


def timeline(boxes: Sequence[Box], *, width: int = 960) -> str:
    """The phases and cohorts left to right, joined by arrows, each coloured by its state."""
    if not boxes:
        return ""
    gap = 18
    box_width = (width - gap * (len(boxes) - 1)) / len(boxes)
    height = 64
    parts = []
    for index, box in enumerate(boxes):
        x = index * (box_width + gap)
        fill, stroke, ink = STATE_COLOURS.get(box.state, STATE_COLOURS["future"])
        parts.append(
            f'<g class="tl-{escape(box.state)}"><title>{escape(box.label)}: {escape(box.note)}'
            f"</title>"
            f'<rect x="{x:.1f}" y="1" width="{box_width:.1f}" height="{height - 2}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{2 if box.state == "current" else 1}"/>'
            f'<text x="{x + 8:.1f}" y="22" font-size="12" font-weight="600" fill="{ink}">'
            f"{escape(_fit(box.label, box_width))}</text>"
            f'<text x="{x + 8:.1f}" y="40" font-size="11" fill="{ink}">'
            f"{escape(_fit(box.note, box_width))}</text>"
        )
        if box.progress is not None:
            inner = box_width - 16
            done = max(0.0, min(1.0, box.progress)) * inner
            parts.append(
                f'<rect x="{x + 8:.1f}" y="48" width="{inner:.1f}" height="6" rx="3" '
                f'fill="#ffffff" stroke="{stroke}" stroke-width="0.5"/>'
                f'<rect x="{x + 8:.1f}" y="48" width="{done:.1f}" height="6" rx="3" '
                f'fill="{stroke}"/>'
            )
        parts.append("</g>")
        if index < len(boxes) - 1:
            ax = x + box_width + 3
            parts.append(
                f'<path d="M{ax:.1f},{height / 2} l{gap - 8},0 m-4,-4 l4,4 l-4,4" '
                f'fill="none" stroke="#8a8f98" stroke-width="1.5"/>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Campaign timeline" '
        f'viewBox="0 0 {width} {height}" width="100%" font-family="{FONT}" '
        f'data-testid="timeline">{"".join(parts)}</svg>'
    )


def _fit(text: str, width: float) -> str:
    room = max(4, int((width - 12) / 6.5))
    return text if len(text) <= room else text[: room - 1] + "\u2026"


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float | None  # None: the check waited (nothing to judge)
    verdict: str


def check_chart(
    *,
    title: str,
    points: Sequence[Point],
    threshold: float,
    start: datetime,
    end: datetime,
    width: int = 300,
    height: int = 90,
) -> str:
    """One check's values over the bake (start to end) as dots joined by a line, the
    threshold as a dashed line; each dot coloured by its verdict."""
    left, right, top, bottom = 40, 8, 18, 16
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p.value for p in points if p.value is not None]
    high = max([threshold, *values, 1.0])
    low = min([0.0, *values])
    span_t = max((end - start).total_seconds(), 1.0)

    def x_of(at: datetime) -> float:
        share = (at - start).total_seconds() / span_t
        return left + max(0.0, min(1.0, share)) * plot_w

    def y_of(value: float) -> float:
        return top + plot_h - (value - low) / ((high - low) or 1.0) * plot_h

    parts = [
        f'<text x="0" y="11" font-size="11" font-weight="600" fill="#1b2430">{escape(title)}'
        f"</text>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" '
        f'stroke="#d8dce2" stroke-width="0.5"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="9" text-anchor="end" fill="#6b7280">'
        f"{_number(high)}</text>",
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="9" text-anchor="end" '
        f'fill="#6b7280">{_number(low)}</text>',
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y_of(threshold):.1f}" '
        f'y2="{y_of(threshold):.1f}" stroke="#a86a00" stroke-dasharray="4 3"/>',
        f'<text x="{left + plot_w}" y="{y_of(threshold) - 3:.1f}" font-size="9" '
        f'text-anchor="end" fill="#a86a00">threshold {_number(threshold)}</text>',
        f'<text x="{left}" y="{height - 3}" font-size="9" fill="#6b7280">{start:%H:%M:%S}</text>',
        f'<text x="{left + plot_w}" y="{height - 3}" font-size="9" text-anchor="end" '
        f'fill="#6b7280">bake ends {end:%H:%M:%S}</text>',
    ]
    judged = [(x_of(p.at), y_of(p.value), p) for p in points if p.value is not None]
    if len(judged) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in judged)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1d5fa3" stroke-width="1"/>')
    for point in points:
        x = x_of(point.at)
        colour = VERDICT_COLOURS.get(point.verdict, "#8a8f98")
        label = f"{point.at:%H:%M:%S} {point.verdict}"
        if point.value is None:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" '
                f'stroke="{colour}" stroke-dasharray="2 2"><title>{label}: waiting</title></line>'
            )
        else:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y_of(point.value):.1f}" r="3" fill="{colour}">'
                f"<title>{label}: {_number(point.value)}</title></circle>"
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="{FONT}" class="gate-chart">{"".join(parts)}</svg>'
    )


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
