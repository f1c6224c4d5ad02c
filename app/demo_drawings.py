"""The demo shop's product drawings, each a function that draws one kind of product in a 0–100 box of a
Sketch in the colour it is given; DRAWINGS names them for app.demo's catalog."""

import math
import random
from collections.abc import Callable

from app.demo_sketch import LEAF, STEM, WHITE, Color, Sketch, darker, lighter, mix


def fruit_apple(s: Sketch, c: Color):
    s.circle(40, 56, 24, c)
    s.circle(60, 56, 24, c)
    s.ellipse(50, 66, 28, 20, c)
    s.ellipse(50, 36, 8, 4, darker(c, 0.3))
    s.line([(50, 37), (53, 22)], STEM, 2.6)
    s.leaf(62, 25, 18, 8, -25)
    s.shine(36, 48, 6, 10)


def fruit_orange(s: Sketch, c: Color):
    s.circle(44, 54, 28, c)
    rng = random.Random(7)
    for _ in range(40):
        a, r = rng.uniform(0, 2 * math.pi), rng.uniform(0, 25)
        s.circle(44 + r * math.cos(a), 54 + r * math.sin(a), 0.7, darker(c, 0.12))
    s.leaf(52, 25, 16, 7, -30)
    s.circle(44, 27, 2, LEAF)
    s.shine(34, 44, 6, 9)
    # a slice beside it
    s.circle(74, 74, 14, lighter(c, 0.55))
    s.circle(74, 74, 12, c)
    for i in range(8):
        s.pieslice(74, 74, 10.5, 10.5, i * 45 + 4, i * 45 + 41, lighter(c, 0.3))
    s.circle(74, 74, 1.5, lighter(c, 0.6))


def fruit_grapes(s: Sketch, c: Color):
    s.line([(50, 26), (54, 14)], STEM, 2.4)
    s.leaf(64, 20, 20, 11, -15)
    rows = [(5, 32), (4, 43), (3, 54), (2, 65), (1, 76)]
    for count, y in rows:
        for i in range(count):
            x = 50 + (i - (count - 1) / 2) * 11
            s.circle(x, y, 6.4, darker(c, 0.12))
            s.circle(x - 0.6, y - 0.6, 5.6, c)
            s.shine(x - 2, y - 2.4, 1.6, 2.2, 120)


def fruit_strawberry(s: Sketch, c: Color):
    s.ellipse(50, 46, 27, 20, c)
    s.poly([(23.5, 48), (76.5, 48), (56, 84), (44, 84)], c)
    s.circle(50, 81, 6.5, c)
    rng = random.Random(11)
    for row, y in enumerate(range(40, 80, 8)):
        span = 22 - row * 3.6
        for i in range(5 - row // 2):
            x = 50 - span + (i + 0.5) * 2 * span / (5 - row // 2) + rng.uniform(-1, 1)
            s.ellipse(x, y + rng.uniform(-1, 1), 0.9, 1.4, (250, 226, 120))
    for angle in range(-160, 20, 36):
        s.leaf(50 + 9 * math.cos(math.radians(angle)), 30 + 4 * math.sin(math.radians(angle)), 16, 7, angle)
    s.line([(50, 28), (51, 18)], (70, 130, 60), 2.2)
    s.shine(38, 44, 4, 7, 70)


def fruit_watermelon(s: Sketch, c: Color):
    s.pieslice(50, 34, 42, 42, 0, 180, (54, 132, 62))
    s.pieslice(50, 34, 38, 38, 0, 180, (222, 240, 196))
    s.pieslice(50, 34, 35, 35, 0, 180, c)
    for x, y in [(36, 44), (50, 48), (64, 44), (43, 58), (57, 58), (50, 66), (30, 38), (70, 38)]:
        s.oval(x, y, 1.3, 2.4, 0, (40, 30, 30))


def fruit_cherries(s: Sketch, c: Color):
    s.line([(38, 64), (48, 36), (56, 22)], (92, 120, 52), 1.8)
    s.line([(63, 70), (60, 40), (56, 22)], (92, 120, 52), 1.8)
    s.leaf(66, 22, 20, 9, -20)
    for x, y in ((38, 68), (63, 74)):
        s.circle(x, y, 14, darker(c, 0.15))
        s.circle(x - 0.8, y - 0.8, 12.8, c)
        s.shine(x - 5, y - 5, 3, 4.5, 110)


def fruit_kiwi(s: Sketch, c: Color):
    s.oval(38, 46, 24, 19, -20, (139, 104, 62))
    s.circle(62, 62, 25, (139, 104, 62))
    s.circle(62, 62, 22.5, c)
    s.circle(62, 62, 8, lighter(c, 0.7))
    for i in range(18):
        a = 2 * math.pi * i / 18
        s.oval(62 + 11 * math.cos(a), 62 + 11 * math.sin(a), 1.4, 0.8, math.degrees(a), (40, 34, 28))


def fruit_mango(s: Sketch, c: Color):
    s.oval(50, 56, 27, 33, 25, mix(c, (240, 110, 40), 0.25))
    s.oval(47, 53, 24, 30, 25, c)
    s.line([(60, 25), (63, 18)], STEM, 2)
    s.leaf(72, 20, 20, 8, -10)
    s.shine(40, 46, 5, 11, 80)


def snack_bag(s: Sketch, c: Color):
    s.poly([(28, 20), (72, 20), (75, 84), (25, 84)], c)
    for x in range(28, 72, 4):
        s.poly([(x, 20), (x + 2, 16), (x + 4, 20)], c)
        s.poly([(x - 3 + 0.3 * (x - 28) / 11, 84), (x - 1, 88), (x + 1, 84)], c)
    s.rect(28, 20, 72, 26, darker(c, 0.15))
    s.rect(36, 44, 64, 70, lighter(c, 0.75), radius=5)
    rng = random.Random(3)
    for _ in range(9):
        s.oval(rng.uniform(40, 60), rng.uniform(49, 66), 3.4, 2.4, rng.uniform(0, 180), (196, 142, 84))
    s.circle(50, 34, 5, lighter(c, 0.5))
    s.shine(32, 50, 2, 18, 60)


def nuts_bowl(s: Sketch, c: Color):
    rng = random.Random(5)
    for _ in range(26):
        x, y = rng.uniform(24, 76), rng.uniform(40, 58)
        if (x - 50) ** 2 / 26**2 + (y - 58) ** 2 / 18**2 > 1:
            continue
        shade = mix((170, 118, 66), (214, 168, 110), rng.random())
        s.oval(x, y, 6, 4.2, rng.uniform(0, 180), shade)
        s.oval(x, y, 3.4, 1.0, rng.uniform(0, 180), darker(shade, 0.15))
    s.chord(50, 58, 34, 26, 0, 180, c)
    s.rect(16, 56, 84, 59, darker(c, 0.12), radius=1.5)
    s.rect(40, 82, 60, 86, darker(c, 0.2), radius=2)
    s.shine(32, 66, 4, 7, 60)


def tea_cake(s: Sketch, c: Color):
    s.circle(50, 52, 34, darker(c, 0.08))
    s.circle(50, 52, 32, c)
    for i in range(24):
        a = 2 * math.pi * i / 24
        s.line(
            [(50 + 14 * math.cos(a), 52 + 14 * math.sin(a)), (50 + 31 * math.cos(a), 52 + 31 * math.sin(a))],
            darker(c, 0.07),
            0.6,
        )
    s.circle(50, 52, 11, (196, 62, 52))
    s.circle(50, 52, 8, c)
    s.circle(50, 52, 5, (196, 62, 52))
    s.leaf(80, 84, 16, 7, 30, (96, 120, 60))
    s.leaf(70, 88, 14, 6, -10, (110, 132, 66))


def tea_tin(s: Sketch, c: Color):
    s.rect(30, 30, 64, 84, c, radius=3)
    s.ellipse(47, 84, 17, 4, darker(c, 0.2))
    s.rect(30, 30, 64, 84, c, radius=3)
    s.rect(29, 24, 65, 34, darker(c, 0.25), radius=2.5)
    s.ellipse(47, 24, 18, 4, darker(c, 0.15))
    s.rect(30, 48, 64, 66, lighter(c, 0.65))
    s.leaf(47, 57, 18, 8, -30, (76, 140, 70))
    s.shine(35, 58, 1.6, 20, 70)
    # a small cup of tea
    s.chord(78, 72, 12, 12, 0, 180, WHITE)
    s.ellipse(78, 72, 12, 3, (190, 170, 96))


def coffee_cup(s: Sketch, c: Color):
    s.ellipse(50, 80, 34, 8, darker(c, 0.1))
    s.ellipse(50, 78, 30, 6.5, c)
    s.chord(48, 50, 24, 30, 0, 180, c)
    s.arc(73, 60, 8, 8, -90, 90, c, 4)
    s.ellipse(48, 50, 24, 6, darker(c, 0.1))
    s.ellipse(48, 51, 21, 4.6, (110, 66, 40))
    s.ellipse(46, 50.5, 8, 1.6, (200, 160, 120))
    for x in (40, 50, 58):
        s.arc(x, 34, 3, 6, 100, 260, (255, 255, 255, 170), 1.5)
        s.arc(x + 6, 24, 3, 6, -80, 80, (255, 255, 255, 170), 1.5)
    for x, y, a in ((18, 86, 20), (84, 88, -30), (26, 92, 60)):
        s.oval(x, y, 4, 2.8, a, (92, 58, 36))
        s.bar(x, y, 5, 0.5, a, (60, 36, 22))


def candy(s: Sketch, c: Color):
    colors = [c, lighter(c, 0.5), mix(c, (255, 230, 180), 0.6)]
    for i, (x, y, a) in enumerate([(38, 40, -20), (62, 58, 15), (40, 72, 10), (68, 30, 30)]):
        col = colors[i % len(colors)]
        for sign in (-1, 1):
            ex, ey = x + sign * 15 * math.cos(math.radians(a)), y + sign * 15 * math.sin(math.radians(a))
            s.oval(ex, ey, 6, 7, a, darker(col, 0.1))
        s.oval(x, y, 12, 8, a, col)
        s.oval(x - 2, y - 3, 5, 1.6, a, (255, 255, 255, 120))


def gift_box(s: Sketch, c: Color):
    s.rect(24, 44, 76, 84, c, radius=2)
    s.rect(20, 34, 80, 46, darker(c, 0.12), radius=2)
    ribbon = lighter(c, 0.7) if sum(c) < 500 else darker(c, 0.45)
    s.rect(46, 34, 54, 84, ribbon)
    s.oval(40, 28, 10, 6, -25, ribbon)
    s.oval(60, 28, 10, 6, 25, ribbon)
    s.circle(50, 31, 4, darker(ribbon, 0.1))


def mug(s: Sketch, c: Color):
    s.arc(68, 56, 12, 14, -80, 80, darker(c, 0.08), 6)
    s.rect(28, 28, 68, 82, c, radius=6)
    s.ellipse(48, 28, 20, 5, darker(c, 0.18))
    s.ellipse(48, 29, 17.5, 3.6, (120, 74, 44))
    s.shine(35, 55, 2.4, 18, 80)
    s.rect(28, 70, 68, 74, darker(c, 0.07))


def thermos(s: Sketch, c: Color):
    s.rect(36, 24, 64, 88, c, radius=7)
    s.rect(38, 12, 62, 26, darker(c, 0.3), radius=4)
    s.rect(36, 26, 64, 30, (200, 204, 210))
    s.rect(36, 72, 64, 76, lighter(c, 0.3))
    s.shine(42, 54, 2.2, 24, 90)


def teapot(s: Sketch, c: Color):
    s.poly([(28, 58), (14, 40), (12, 36), (18, 38), (32, 52)], c)
    s.arc(74, 58, 11, 13, -90, 90, c, 4)
    s.ellipse(48, 60, 28, 22, c)
    s.ellipse(48, 39, 14, 4, darker(c, 0.15))
    s.chord(48, 38, 10, 6, 180, 360, c)
    s.circle(48, 31, 3, darker(c, 0.2))
    s.shine(36, 54, 4, 8, 70)
    # a small cup beside it
    s.chord(82, 80, 9, 9, 0, 180, lighter(c, 0.15))
    s.ellipse(82, 80, 9, 2.5, (176, 152, 80))


def basket(s: Sketch, c: Color):
    s.poly([(20, 36), (80, 36), (74, 84), (26, 84)], c)
    for i, y in enumerate(range(40, 84, 6)):
        if i % 2:
            s.poly(
                [
                    (20 + (y - 36) / 8, y),
                    (80 - (y - 36) / 8, y),
                    (80 - (y + 3 - 36) / 8, y + 3),
                    (20 + (y + 3 - 36) / 8, y + 3),
                ],
                darker(c, 0.1),
            )
    s.rect(18, 32, 82, 38, darker(c, 0.2), radius=2)
    s.rect(26, 42, 34, 46, darker(c, 0.45), radius=2)
    s.rect(66, 42, 74, 46, darker(c, 0.45), radius=2)


def towels(s: Sketch, c: Color):
    shades = [lighter(c, 0.4), c, darker(c, 0.12)]
    for i, y in enumerate((66, 50, 34)):
        col = shades[i]
        s.rect(18 + i * 2, y, 82 - i * 2, y + 16, col, radius=6)
        s.rect(22 + i * 2, y + 11, 78 - i * 2, y + 13, lighter(col, 0.5))
        s.arc(18 + i * 2 + 6, y + 8, 6, 8, 90, 270, darker(col, 0.12), 1)


def candle(s: Sketch, c: Color):
    s.circle(50, 30, 14, (255, 214, 120, 60))
    s.rect(28, 42, 72, 86, (236, 240, 244), radius=6)
    s.rect(30, 50, 70, 84, c, radius=5)
    s.ellipse(50, 50, 20, 4, lighter(c, 0.3))
    s.rect(30, 62, 70, 72, lighter(c, 0.6))
    s.line([(50, 50), (50, 42)], (60, 50, 40), 1)
    s.poly([(50, 24), (54, 36), (50, 42), (46, 36)], (255, 170, 60))
    s.poly([(50, 31), (52, 37), (50, 40), (48, 37)], (255, 236, 150))
    s.shine(34, 66, 1.6, 14, 80)


def tshirt(s: Sketch, c: Color):
    s.poly(
        [
            (36, 18),
            (44, 15),
            (56, 15),
            (64, 18),
            (85, 31),
            (77, 46),
            (68, 40),
            (68, 86),
            (32, 86),
            (32, 40),
            (23, 46),
            (15, 31),
        ],
        c,
    )
    s.chord(50, 15, 6.5, 5, 0, 180, darker(c, 0.22))
    s.arc(50, 15, 7.5, 6.5, 0, 180, darker(c, 0.1), 1.4)
    s.line([(68, 40), (68, 58)], darker(c, 0.07), 0.8)
    s.line([(32, 40), (32, 58)], darker(c, 0.07), 0.8)


def hoodie(s: Sketch, c: Color):
    s.ellipse(50, 18, 15, 11, darker(c, 0.12))
    s.poly(
        [
            (34, 20),
            (66, 20),
            (82, 34),
            (88, 78),
            (77, 80),
            (70, 48),
            (70, 86),
            (30, 86),
            (30, 48),
            (23, 80),
            (12, 78),
            (18, 34),
        ],
        c,
    )
    s.ellipse(50, 20, 8, 5, darker(c, 0.3))
    s.line([(46, 24), (45, 40)], WHITE, 1)
    s.line([(54, 24), (55, 40)], WHITE, 1)
    s.poly([(36, 62), (64, 62), (68, 78), (32, 78)], darker(c, 0.08))
    s.rect(30, 82, 70, 86, darker(c, 0.1))


def tote(s: Sketch, c: Color):
    s.arc(40, 38, 8, 18, 180, 360, darker(c, 0.2), 2.6)
    s.arc(60, 38, 8, 18, 180, 360, darker(c, 0.2), 2.6)
    s.rect(24, 36, 76, 86, c, radius=2)
    s.circle(58, 54, 5, lighter(c, 0.6))
    s.poly([(32, 76), (44, 58), (54, 70), (60, 64), (68, 76)], lighter(c, 0.4))
    s.line([(24, 40), (76, 40)], darker(c, 0.08), 0.8)


def cap(s: Sketch, c: Color):
    s.ellipse(70, 62, 22, 6, darker(c, 0.2))
    s.pieslice(46, 62, 28, 30, 180, 360, c)
    s.rect(18, 58, 74, 63, darker(c, 0.08))
    s.arc(46, 62, 12, 30, 180, 270, darker(c, 0.1), 0.8)
    s.arc(46, 62, 12, 30, 270, 360, darker(c, 0.1), 0.8)
    s.circle(46, 33, 2.5, darker(c, 0.2))
    s.circle(46, 48, 5, lighter(c, 0.6))


def socks(s: Sketch, c: Color):
    for i, (dx, col) in enumerate(((0, c), (20, lighter(c, 0.35)))):
        x = 26 + dx
        s.rect(x, 16 + i * 6, x + 18, 64 + i * 6, col, radius=3)
        s.rect(x, 54 + i * 6, x + 34, 74 + i * 6, col, radius=10)
        s.rect(x, 16 + i * 6, x + 18, 22 + i * 6, darker(col, 0.15), radius=2)
        s.rect(x, 30 + i * 6, x + 18, 33 + i * 6, WHITE)
        s.circle(x + 28, 64 + i * 6, 6, darker(col, 0.1))


def tube(s: Sketch, c: Color):
    s.poly([(34, 18), (66, 18), (62, 74), (38, 74)], lighter(c, 0.75))
    s.rect(33, 14, 67, 20, darker(c, 0.05))
    for x in range(35, 66, 3):
        s.line([(x, 15), (x, 19)], darker(c, 0.2), 0.4)
    s.poly([(36, 38), (64, 38), (62.6, 56), (37.4, 56)], c)
    s.rect(39, 74, 61, 88, c, radius=2)
    s.shine(40, 46, 1.6, 16, 90)


def cream_jar(s: Sketch, c: Color):
    s.rect(28, 52, 72, 82, (246, 244, 240), radius=5)
    s.ellipse(50, 82, 22, 4, (226, 222, 216))
    s.rect(28, 60, 72, 72, c)
    s.rect(26, 38, 74, 54, darker(c, 0.1), radius=4)
    s.ellipse(50, 38, 24, 5, c)
    s.shine(34, 66, 2, 10, 80)


def pump_bottle(s: Sketch, c: Color):
    s.rect(46, 18, 54, 32, (236, 236, 236))
    s.rect(40, 12, 60, 20, (250, 250, 250), radius=2)
    s.rect(58, 13, 76, 17, (250, 250, 250), radius=1.5)
    s.rect(42, 28, 58, 36, darker(c, 0.15), radius=2)
    s.rect(32, 34, 68, 88, c, radius=9)
    s.rect(36, 50, 64, 74, lighter(c, 0.7), radius=3)
    s.leaf(50, 62, 12, 6, -40, darker(c, 0.1))
    s.shine(38, 60, 1.8, 18, 90)


def book(s: Sketch, c: Color):
    s.poly([(70, 18), (75, 21), (75, 88), (70, 85)], (244, 240, 228))
    for y in range(26, 86, 4):
        s.line([(71, y), (74, y + 2)], (220, 214, 200), 0.3)
    s.poly([(30, 85), (70, 85), (75, 88), (35, 88)], (232, 226, 212))
    s.rect(28, 16, 70, 86, c, radius=1.5)
    s.rect(28, 16, 33, 86, darker(c, 0.18))
    s.circle(52, 44, 10, lighter(c, 0.5))
    s.chord(52, 66, 14, 7, 180, 360, lighter(c, 0.3))
    s.rect(42, 74, 62, 76, lighter(c, 0.6))


def notebook(s: Sketch, c: Color):
    s.rect(32, 18, 76, 84, (246, 244, 238), radius=3)
    for y in range(26, 80, 5):
        for x in range(38, 72, 5):
            s.circle(x, y, 0.35, (190, 190, 190))
    s.rect(24, 16, 70, 86, c, radius=3)
    s.rect(60, 16, 63, 86, darker(c, 0.3))
    s.poly([(40, 84), (44, 84), (44, 94), (42, 91), (40, 94)], (214, 76, 70))
    s.shine(30, 50, 1.6, 24, 60)


def pens(s: Sketch, c: Color):
    colors = [c, (54, 98, 186), (200, 62, 60)]
    for i, col in enumerate(colors):
        cx, cy = 46 + i * 8, 50 + i * 4
        s.bar(cx, cy, 66, 6, -48, (236, 236, 238))
        s.bar(cx - 19, cy + 21, 20, 6.2, -48, col)
        s.bar(cx + 22, cy - 24, 10, 4, -48, col)
        s.line([(cx + 12, cy - 17), (cx + 2, cy - 6)], darker(col, 0.1), 1.2)
        tip = (cx - 24 * math.cos(math.radians(48)) * 1.15, cy + 24 * math.sin(math.radians(48)) * 1.15)
        s.circle(*tip, 1.5, (80, 80, 80))


def earbuds(s: Sketch, c: Color):
    s.rect(22, 44, 78, 86, c, radius=14)
    s.line([(24, 58), (76, 58)], darker(c, 0.12), 0.8)
    s.circle(50, 72, 1.6, (90, 210, 120))
    s.shine(30, 70, 2, 8, 80)
    for x, flip in ((36, 1), (64, -1)):
        s.rect(x - 3, 22, x + 3, 42, c, radius=3)
        s.circle(x + flip * 3, 22, 8, c)
        s.circle(x + flip * 7, 22, 3.4, darker(c, 0.45))


def leafy_logo(s: Sketch, c: Color):
    s.rect(8, 8, 92, 92, c, radius=22)
    s.rect(30, 40, 70, 80, WHITE, radius=5)
    s.arc(50, 40, 10, 12, 180, 360, WHITE, 4)
    s.leaf(50, 58, 22, 12, -55, (120, 196, 110))
    s.leaf(50, 58, 22, 12, -125, LEAF)


DRAWINGS: dict[str, Callable[[Sketch, Color], None]] = {
    "apple": fruit_apple,
    "orange": fruit_orange,
    "grapes": fruit_grapes,
    "strawberry": fruit_strawberry,
    "watermelon": fruit_watermelon,
    "cherries": fruit_cherries,
    "kiwi": fruit_kiwi,
    "mango": fruit_mango,
    "snack_bag": snack_bag,
    "nuts_bowl": nuts_bowl,
    "tea_cake": tea_cake,
    "tea_tin": tea_tin,
    "coffee_cup": coffee_cup,
    "candy": candy,
    "gift_box": gift_box,
    "mug": mug,
    "thermos": thermos,
    "teapot": teapot,
    "basket": basket,
    "towels": towels,
    "candle": candle,
    "tshirt": tshirt,
    "hoodie": hoodie,
    "tote": tote,
    "cap": cap,
    "socks": socks,
    "tube": tube,
    "cream_jar": cream_jar,
    "pump_bottle": pump_bottle,
    "book": book,
    "notebook": notebook,
    "pens": pens,
    "earbuds": earbuds,
    "leafy_logo": leafy_logo,
}
