"""The demo pictures' drawing kit: colours and a Pillow canvas addressed in units of 0–100 on each side,
with the shapes the drawings in app.demo_drawings are made of."""

import math
import random
from contextlib import contextmanager

from PIL import Image, ImageDraw

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
LEAF: Color = (76, 160, 84)
STEM: Color = (120, 82, 52)


def mix(a: Color, b: Color, t: float) -> Color:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def darker(c: Color, t: float = 0.25) -> Color:
    return mix(c, (0, 0, 0), t)


def lighter(c: Color, t: float = 0.35) -> Color:
    return mix(c, WHITE, t)


def alpha(c: Color, a: int) -> tuple[int, int, int, int]:
    return (*c, a)


class Sketch:
    """A canvas addressed in units of 0–100 on each side; `place` moves and scales what is drawn next."""

    def __init__(self, image: Image.Image, rng: random.Random):
        self.image = image
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.rng = rng
        self.k = image.width / 100
        self.ox, self.oy, self.scale = 0.0, 0.0, 1.0

    @contextmanager
    def place(self, cx: float, cy: float, scale: float):
        saved = (self.ox, self.oy, self.scale)
        self.ox, self.oy, self.scale = cx - 50 * scale, cy - 50 * scale, scale
        try:
            yield self
        finally:
            self.ox, self.oy, self.scale = saved

    def p(self, x: float, y: float) -> tuple[float, float]:
        return ((self.ox + x * self.scale) * self.k, (self.oy + y * self.scale) * self.k)

    def w(self, v: float) -> int:
        return max(1, round(v * self.scale * self.k))

    def box(self, x0, y0, x1, y1) -> list[float]:
        (a, b), (c, d) = self.p(x0, y0), self.p(x1, y1)
        return [a, b, c, d]

    def ellipse(self, cx, cy, rx, ry, fill=None, outline=None, width=1):
        self.draw.ellipse(
            self.box(cx - rx, cy - ry, cx + rx, cy + ry),
            fill=fill,
            outline=outline,
            width=self.w(width) if outline else 0,
        )

    def circle(self, cx, cy, r, fill=None, outline=None, width=1):
        self.ellipse(cx, cy, r, r, fill, outline, width)

    def rect(self, x0, y0, x1, y1, fill=None, radius=0.0, outline=None, width=1):
        self.draw.rounded_rectangle(
            self.box(x0, y0, x1, y1),
            radius=self.w(radius) if radius else 0,
            fill=fill,
            outline=outline,
            width=self.w(width) if outline else 0,
        )

    def poly(self, points, fill=None):
        self.draw.polygon([self.p(x, y) for x, y in points], fill=fill)

    def line(self, points, fill, width=1.0):
        self.draw.line([self.p(x, y) for x, y in points], fill=fill, width=self.w(width), joint="curve")
        r = width / 2
        for x, y in (points[0], points[-1]):  # round caps
            self.circle(x, y, r, fill)

    def arc(self, cx, cy, rx, ry, start, end, fill, width=1.0):
        self.draw.arc(
            self.box(cx - rx, cy - ry, cx + rx, cy + ry), start, end, fill=fill, width=self.w(width)
        )

    def pieslice(self, cx, cy, rx, ry, start, end, fill):
        self.draw.pieslice(self.box(cx - rx, cy - ry, cx + rx, cy + ry), start, end, fill=fill)

    def chord(self, cx, cy, rx, ry, start, end, fill):
        self.draw.chord(self.box(cx - rx, cy - ry, cx + rx, cy + ry), start, end, fill=fill)

    def oval(self, cx, cy, rx, ry, angle, fill):
        """A rotated ellipse (angle in degrees)."""
        a = math.radians(angle)
        pts = []
        for i in range(48):
            t = 2 * math.pi * i / 48
            x, y = rx * math.cos(t), ry * math.sin(t)
            pts.append((cx + x * math.cos(a) - y * math.sin(a), cy + x * math.sin(a) + y * math.cos(a)))
        self.poly(pts, fill)

    def bar(self, cx, cy, length, thickness, angle, fill):
        """A rotated rectangle with rounded ends."""
        a = math.radians(angle)
        dx, dy = math.cos(a) * length / 2, math.sin(a) * length / 2
        self.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill, thickness)

    def leaf(self, cx, cy, length, width, angle, fill=LEAF):
        a = math.radians(angle)
        side1, side2 = [], []
        for i in range(13):
            t = i / 12
            along = (t - 0.5) * length
            half = width / 2 * math.sin(math.pi * t)
            for side, sign in ((side1, 1), (side2, -1)):
                side.append(
                    (
                        cx + along * math.cos(a) - sign * half * math.sin(a),
                        cy + along * math.sin(a) + sign * half * math.cos(a),
                    )
                )
        self.poly(side1 + side2[::-1], fill)
        self.line([side1[1], side1[-2]], darker(fill, 0.2), 0.6)

    def shine(self, cx, cy, rx, ry, strength=90):
        self.ellipse(cx, cy, rx, ry, fill=(255, 255, 255, strength))
