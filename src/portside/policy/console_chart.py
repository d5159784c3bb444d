"""The trend of open critical and major findings as an inline SVG: coordinates computed
here, drawn by the template; no script (the Content Security Policy forbids inline ones),
and the same figures in a table for readers that cannot see the picture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    critical: str  # polyline points
    major: str
    ticks: list[dict[str, Any]]  # horizontal grid lines: y, label
    labels: list[dict[str, Any]]  # dates under the axis: x, label
    top: int
    plot_bottom: int
    left: int
    right: int


def _nice_ceiling(value: int) -> int:
    if value <= 4:
        return 4
    step = 1
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def build(points: list[Any]) -> Chart:
    """``points``: objects with ``day``, ``critical`` and ``major``, oldest first."""
    peak = max([max(p.critical, p.major) for p in points] + [0])
    ceiling = _nice_ceiling(peak)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    span = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return round(LEFT + plot_w * i / span, 1)

    def y(v: int) -> float:
        return round(TOP + plot_h * (1 - v / ceiling), 1)

    critical = " ".join(f"{x(i)},{y(p.critical)}" for i, p in enumerate(points))
    major = " ".join(f"{x(i)},{y(p.major)}" for i, p in enumerate(points))
    ticks = [{"y": y(ceiling * k // 4), "label": ceiling * k // 4} for k in range(5)]
    labels = [
        {"x": x(i), "label": p.day.strftime("%d %b")}
        for i, p in enumerate(points)
        if i % 15 == 0 or i == len(points) - 1
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        critical=critical,
        major=major,
        ticks=ticks,
        labels=labels,
        top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        left=LEFT,
        right=WIDTH - RIGHT,
    )
