"""The dashboard's sales line as inline SVG, drawn on the server: the geometry here, the markup in
templates/admin/_line_chart.html. No chart library, nothing fetched by the browser."""

import math
from dataclasses import dataclass

from app.money import format_fen

WIDTH, HEIGHT = 640, 220  # the drawing's own units; the page scales it to the card's width
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28  # room for the axis labels
WIDE, NARROW = (1000, 240), (360, 220)  # a wide drawing for a screen, a narrow one for a phone
LABEL_ROOM = 60  # units an x-axis label needs
DOT_ROOM = 14  # below this spacing the points are a line without dots


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    fen: int  # the value: fen, or a count on a chart of counts
    money: bool = True

    @property
    def title(self) -> str:
        return f"{self.label} {format_fen(self.fen) if self.money else f'{self.fen:,}'}"


def nice_top(most: int, least: int = 100) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ fen (at least ¥1; for counts at least `least`=2, so that the middle
    line is whole) at or above `most`: the top line of the chart."""
    step = least
    while True:
        for factor in (1, 2, 5):
            if step * factor >= most:
                return step * factor
        step *= 10


def axis_money(fen: int) -> str:
    """¥1,000 rather than ¥1,000.00 on an axis whose lines fall on whole yuan."""
    return format_fen(fen).removesuffix(".00")


def line_chart(
    points: list[tuple[str, int]], slots: int, size: tuple[int, int] = (WIDTH, HEIGHT), *, money: bool = True
) -> dict:
    """Where to draw `points` ((label, fen) for the buckets so far) on a chart `slots` buckets wide, so that
    today's line stops at the current hour, in a drawing of `size` units. `money=False`: the values are
    counts (views, visitors), labelled as numbers."""
    width, height = size
    top = nice_top(max((fen for _label, fen in points), default=0), 100 if money else 2)
    inner_w, inner_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    step = inner_w / max(slots - 1, 1)

    def y_of(fen: int) -> float:
        return round(TOP + inner_h * (1 - fen / top), 1)

    drawn = [
        Point(round(LEFT + index * step, 1), y_of(fen), label, fen, money)
        for index, (label, fen) in enumerate(points)
    ]
    every = max(1, math.ceil(slots / (inner_w / LABEL_ROOM)))
    return {
        "width": width,
        "height": height,
        "left": LEFT,
        "right": width - RIGHT,
        "bottom": height - BOTTOM,
        "points": drawn,
        "dots": step >= DOT_ROOM,
        "line": " ".join(f"{p.x},{p.y}" for p in drawn),
        "area": (
            f"M{drawn[0].x},{height - BOTTOM} "
            + " ".join(f"L{p.x},{p.y}" for p in drawn)
            + f" L{drawn[-1].x},{height - BOTTOM} Z"
        )
        if drawn
        else "",
        "grid": [(y_of(fen), axis_money(fen) if money else f"{fen:,}") for fen in (0, top // 2, top)],
        "x_labels": [(p.x, p.label) for index, p in enumerate(drawn) if index % every == 0],
        "total_fen": sum(p.fen for p in drawn),
    }
