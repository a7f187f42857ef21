"""The activity timeline's geometry: stacked monthly bars for a server-rendered inline SVG
(no chart library, no script: it draws with JavaScript off and on a slow laptop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = ["Bar", "Chart", "timeline_chart"]

WIDTH, HEIGHT = 640, 180
PLOT_TOP, PLOT_BOTTOM, PLOT_LEFT = 12, 150, 36
AUDIENCE_ORDER = ("internal", "external", "partner")


@dataclass(frozen=True, slots=True)
class Segment:
    audience: str
    count: int
    y: float
    height: float


@dataclass(slots=True)
class Bar:
    month: date
    total: int
    x: float
    width: float
    label: str | None
    segments: list[Segment] = field(default_factory=list)

    @property
    def description(self) -> str:
        parts = ", ".join(f"{s.count} {s.audience}" for s in self.segments)
        noun = "contribution" if self.total == 1 else "contributions"
        return f"{self.month:%B %Y}: {self.total} {noun}" + (f" ({parts})" if parts else "")


@dataclass(slots=True)
class Chart:
    bars: list[Bar]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PLOT_LEFT
    plot_top: int = PLOT_TOP
    plot_bottom: int = PLOT_BOTTOM

    @property
    def total(self) -> int:
        return sum(bar.total for bar in self.bars)


def timeline_chart(months: list[tuple[date, dict[str, int]]]) -> Chart:
    """Lay out one stacked bar per month, audiences bottom-up in a fixed order; a month is
    labelled every quarter (January, April, July, October)."""
    peak = max((sum(counts.values()) for _, counts in months), default=0)
    scale = (PLOT_BOTTOM - PLOT_TOP) / peak if peak else 0.0
    step = (WIDTH - PLOT_LEFT) / max(len(months), 1)
    bars = []
    for index, (month, counts) in enumerate(months):
        bar = Bar(month, sum(counts.values()), PLOT_LEFT + index * step + 1, step - 2,
                  f"{month:%b %Y}" if month.month % 3 == 1 else None)
        top = float(PLOT_BOTTOM)
        for audience in AUDIENCE_ORDER:
            count = counts.get(audience, 0)
            if count:
                height = count * scale
                top -= height
                bar.segments.append(Segment(audience, count, round(top, 2), round(height, 2)))
        bars.append(bar)
    return Chart(bars, peak)
