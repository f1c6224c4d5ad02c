"""Pictures for the demo shop, drawn with Pillow: simple product illustrations on soft backgrounds.
No text (a fresh machine may have no CJK font), no network, and the same picture every run, so the
content-hash file names stay stable and seeding twice stores nothing new. The products are drawn by
app.demo_drawings with the kit in app.demo_sketch; here they are composed onto backgrounds and saved."""

import io
import random

import qrcode
from PIL import Image, ImageOps

from app.demo_drawings import DRAWINGS, leafy_logo
from app.demo_sketch import WHITE, Color, Sketch, alpha, darker, lighter

SUPERSAMPLE = 2  # draw at twice the size and scale down: cheap anti-aliasing

BACKGROUNDS: list[tuple[Color, Color]] = [
    ((255, 244, 230), (255, 226, 204)),  # peach
    ((232, 245, 236), (206, 234, 216)),  # mint
    ((231, 241, 252), (204, 223, 247)),  # sky
    ((244, 236, 252), (226, 212, 246)),  # lavender
    ((255, 249, 219), (252, 236, 181)),  # lemon
    ((253, 236, 240), (248, 211, 222)),  # blush
    ((238, 242, 228), (220, 229, 199)),  # sage
    ((241, 239, 235), (225, 219, 209)),  # linen
]


# ---------------------------------------------------------------- backgrounds and compositions


def _canvas(size: int, top: Color, bottom: Color) -> Image.Image:
    """A vertical gradient: one column of colours stretched sideways (far cheaper than compositing)."""
    px = size * SUPERSAMPLE
    column = ImageOps.colorize(Image.linear_gradient("L").resize((1, px)), top, bottom)
    return column.resize((px, px), Image.Resampling.NEAREST)


def _background(s: Sketch, style: int, top: Color, bottom: Color, light_product: bool) -> None:
    if style == 0:  # a soft disc behind the product and a podium under it
        # A white product would vanish on a white disc: give it a deeper one.
        s.circle(50, 46, 38, darker(bottom, 0.06) if light_product else lighter(top, 0.45))
        s.ellipse(50, 86, 36, 7, darker(bottom, 0.08))
    elif style == 1:  # polka dots
        for row, y in enumerate(range(6, 100, 12)):
            for x in range(6 + (row % 2) * 6, 100, 12):
                s.circle(x, y, 1.6, lighter(top, 0.5))
    elif style == 2:  # a table top
        s.rect(0, 66, 100, 100, darker(bottom, 0.06))
        s.rect(0, 66, 100, 67.5, lighter(bottom, 0.3))
    else:  # confetti
        for _ in range(18):
            x, y = s.rng.uniform(4, 96), s.rng.uniform(4, 96)
            col = lighter(darker(bottom, 0.1), s.rng.uniform(0, 0.4))
            if s.rng.random() < 0.5:
                s.circle(x, y, s.rng.uniform(1, 2.6), col)
            else:
                s.bar(x, y, s.rng.uniform(3, 6), 1.4, s.rng.uniform(0, 180), col)


def _shadow(s: Sketch, cx: float, cy: float, rx: float, bottom: Color) -> None:
    s.ellipse(cx, cy, rx, rx * 0.16, alpha(darker(bottom, 0.35), 60))


def render(kind: str, colors: list[Color], variant: int, seed: str, size: int = 800) -> bytes:
    """One product picture as JPEG bytes. Variants: 0 the main picture, 1 a close-up, 2 a group
    (several colours side by side), 3 a playful one. The seed picks the background."""
    rng = random.Random(f"{seed}/{variant}")
    draw = DRAWINGS[kind]
    top, bottom = BACKGROUNDS[
        (random.Random(seed).randrange(len(BACKGROUNDS)) + variant * 3) % len(BACKGROUNDS)
    ]
    s = Sketch(_canvas(size, top, bottom), rng)
    style = variant % 4
    _background(s, style, top, bottom, light_product=sum(colors[0]) > 660)
    if style == 0:
        with s.place(50, 48, 0.82):
            draw(s, colors[0])
    elif style == 1:
        with s.place(54, 56, 1.3):
            draw(s, colors[1 % len(colors)])
    elif style == 2:
        # The one at the back first, so the front two overlap it.
        group = (colors * 3)[:3] if len(colors) > 1 else colors * 2
        spots = (
            [(50, 52, 0.5), (28, 62, 0.44), (72, 62, 0.44)]
            if len(group) == 3
            else [(32, 60, 0.5), (68, 60, 0.5)]
        )
        for (cx, cy, scale), color in zip(spots, group, strict=False):
            _shadow(s, cx, cy + 22 * scale * 1.8, 18 * scale * 1.6, bottom)
            with s.place(cx, cy, scale):
                draw(s, color)
    else:
        _shadow(s, 50, 78, 26, bottom)
        with s.place(50, 50, 0.7):
            draw(s, colors[-1])
    return _jpeg(s.image.reduce(SUPERSAMPLE))


def render_icon(kind: str, color: Color, background: Color, size: int = 240) -> bytes:
    """A round-friendly category icon: the drawing on a flat colour (the shop crops it to a circle)."""
    s = Sketch(Image.new("RGB", (size * SUPERSAMPLE, size * SUPERSAMPLE), background), random.Random(kind))
    with s.place(50, 52, 0.78):
        DRAWINGS[kind](s, color)
    return _jpeg(s.image.reduce(SUPERSAMPLE))


def render_logo(color: Color, size: int = 240) -> bytes:
    s = Sketch(Image.new("RGB", (size * SUPERSAMPLE, size * SUPERSAMPLE), WHITE), random.Random("logo"))
    leafy_logo(s, color)
    return _jpeg(s.image.reduce(SUPERSAMPLE))


def render_qr(url: str) -> bytes:
    image = qrcode.make(url, box_size=10, border=3).get_image().convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()
