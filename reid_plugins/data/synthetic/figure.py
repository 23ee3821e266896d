"""Draws one pedestrian (an identity in a walking pose) with PIL primitives, into an RGB canvas and, in parallel,
into a label canvas (0 background, 1 head, 2 upper body, 3 legs) from which the part boxes are measured.

No library draws parametric people, so this is hand-written: a figure is a few polygons and thick poly-lines placed
by body proportions (fractions of the person height P measured from the top of the head).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .attributes import COLORS, HAIR_COLORS, SKIN_TONES

HEAD, UPPER, LEGS = 1, 2, 3
BUILD = {"slim": 0.86, "average": 1.0, "heavy": 1.22}
HEIGHT = {"short": 0.92, "average": 1.0, "tall": 1.07}


@dataclass
class Pose:
    view: str          # "front", "back" or "side"
    facing: int        # side view: +1 walks to the right, -1 to the left
    phase: float       # walking cycle angle (radians)
    lean: float        # head/torso horizontal offset (fraction of P)


def shade(color, k: float):
    return tuple(int(max(0, min(255, round(c * k)))) for c in color)


class Painter:
    """Draws every primitive twice: in colour on the RGB canvas, and as a part id on the label canvas."""

    def __init__(self, rgb: Image.Image, label: Image.Image):
        self.rgb, self.label = rgb, label
        self.d, self.l = ImageDraw.Draw(rgb), ImageDraw.Draw(label)

    def polygon(self, pts, color, part):
        self.d.polygon(pts, fill=color)
        self.l.polygon(pts, fill=part)

    @staticmethod
    def _norm(box):
        x0, y0, x1, y1 = box
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def ellipse(self, box, color, part):
        box = self._norm(box)
        self.d.ellipse(box, fill=color)
        self.l.ellipse(box, fill=part)

    def chord(self, box, start, end, color, part):
        self.d.chord(box, start, end, fill=color)
        self.l.chord(box, start, end, fill=part)

    def rect(self, box, color, part):
        box = self._norm(box)
        self.d.rectangle(box, fill=color)
        self.l.rectangle(box, fill=part)

    def limb(self, pts, width, color, part):
        """Thick poly-line with round caps (a limb, a strap)."""
        w = max(1, int(round(width)))
        self.d.line(pts, fill=color, width=w, joint="curve")
        self.l.line(pts, fill=part, width=w, joint="curve")
        r = width / 2.0
        for x, y in (pts[0], pts[-1]):
            self.ellipse((x - r, y - r, x + r, y + r), color, part)

    def textured_polygon(self, pts, base, pattern, pattern_color, period, part):
        """Garment with stripes / checks (the texture is computed only over the polygon's bounding box)."""
        if pattern not in ("stripes", "checks"):
            self.polygon(pts, base, part)
            return
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x0, y0 = int(np.floor(min(xs))), int(np.floor(min(ys)))
        x1, y1 = int(np.ceil(max(xs))) + 1, int(np.ceil(max(ys))) + 1
        mask = Image.new("L", (x1 - x0, y1 - y0), 0)
        ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in pts], fill=255)
        yy = np.arange(y1 - y0)[:, None]
        xx = np.arange(x1 - x0)[None, :]
        if pattern == "stripes":
            on = ((yy // max(2, int(period))) % 2 == 0) & (xx >= 0)
        else:
            p = max(3, int(period * 1.4))
            on = ((yy // p) + (xx // p)) % 2 == 0
        tex = np.where(on[..., None], np.asarray(base, np.uint8), np.asarray(pattern_color, np.uint8))
        self.rgb.paste(Image.fromarray(np.ascontiguousarray(tex)), (x0, y0), mask)
        self.l.polygon(pts, fill=part)


class Figure:
    """Where the body parts of one figure go, and their colours: computed once, read by every part painter.
    Positions are in canvas pixels; `y(f)` is the row at body fraction f (0 top of the head, 1 the feet)."""

    def __init__(self, ident: dict, pose: Pose, cx: float, feet_y: float, height_px: float):
        P = self.P = height_px
        self.top = feet_y - P
        body, self.head, self.upper, self.legs = ident["body"], ident["head"], ident["upper"], ident["legs"]
        self.view, self.side, self.fd = pose.view, pose.view == "side", pose.facing
        self.s = float(np.sin(pose.phase))
        self.cx, self.hx = cx, cx + pose.lean * P
        bw = self.bw = BUILD[body["build"]]
        female = body["gender"] == "female"

        self.skin = SKIN_TONES[self.head["skin"]]
        self.hair = HAIR_COLORS[self.head["hair_color"]]
        self.ucol = COLORS[self.upper["color"]]
        self.pcol = COLORS[self.upper["pattern_color"]] if self.upper["pattern_color"] else self.ucol
        self.lcol = COLORS[self.legs["color"]]
        self.scol = COLORS[self.legs["shoe_color"]]
        self.bcol = COLORS[self.upper["bag_color"]] if self.upper["bag_color"] else None

        side = self.side
        self.sw = (0.075 if side else 0.13) * P * bw * (0.9 if female else 1.0)     # shoulder half-width
        self.hw = (0.068 if side else 0.092) * P * bw * (1.08 if female else 1.0)    # hip half-width
        self.ys, self.yhem, self.yhip = self.y(0.165), self.y(0.50), self.y(0.49)
        self.coat = self.upper["garment"] == "coat"
        if self.coat:
            self.yhem = self.y(0.66)
        self.thigh, self.shin = 0.084 * P * bw ** 0.7, 0.062 * P * bw ** 0.6
        self.upper_arm, self.fore_arm = 0.056 * P * bw ** 0.7, 0.046 * P * bw ** 0.6
        self.legs_xy = self._leg_joints()
        self.arms = self._arm_joints()
        self.hw_head, self.hh = 0.05 * P, 0.064 * P                              # head half-width / half-height
        self.hcy = self.y(0.062)
        self.head_box = (self.hx - self.hw_head, self.hcy - self.hh, self.hx + self.hw_head, self.hcy + self.hh)

    def y(self, f: float) -> float:
        return self.top + f * self.P

    def _leg_joints(self) -> list:
        """(hip, knee, ankle, darkness) per leg, in drawing order."""
        P, cx, s, fd, Y = self.P, self.cx, self.s, self.fd, self.y
        legs_xy = []
        if self.side:
            for sign, dark in ((-1, 0.75), (1, 1.0)):                        # far leg first, darker
                sw_ = sign * s
                knee = (cx + fd * sw_ * 0.07 * P, Y(0.73))
                ankle = (cx + fd * sw_ * 0.15 * P, Y(0.955) - 0.02 * P * max(0.0, -sw_))
                legs_xy.append(((cx, Y(0.52)), knee, ankle, dark))
        else:
            hip_l, hip_r = (cx - self.hw * 0.5, Y(0.52)), (cx + self.hw * 0.5, Y(0.52))
            for hip, sign, lift in ((hip_l, -1, max(0.0, s)), (hip_r, 1, max(0.0, -s))):
                knee = (hip[0] + sign * 0.012 * P, Y(0.73) - 0.012 * P * lift)
                ankle = (hip[0] + sign * (0.012 + 0.02 * abs(s)) * P, Y(0.955) - 0.03 * P * lift)
                legs_xy.append((hip, knee, ankle, 1.0))
        return legs_xy

    def _arm_joints(self) -> list:
        """(shoulder, elbow, wrist, darkness) per arm; in side view the first one is the far arm."""
        P, cx, s, fd, Y, bw, ys = self.P, self.cx, self.s, self.fd, self.y, self.bw, self.ys
        arms = []
        if self.side:
            for sign, dark in ((1, 0.75), (-1, 1.0)):                         # arms swing opposite to the legs
                a = sign * s
                sh = (cx + fd * 0.01 * P, ys + 0.02 * P)
                el = (sh[0] + fd * a * 0.06 * P, Y(0.33))
                wr = (sh[0] + fd * a * 0.13 * P, Y(0.46) - 0.02 * P * abs(a))
                arms.append((sh, el, wr, dark))
        else:
            for sign, a in ((-1, max(0.0, -s)), (1, max(0.0, s))):
                sh = (cx + sign * (self.sw - 0.022 * P), ys + 0.022 * P)
                el = (sh[0] + sign * 0.018 * P * bw, Y(0.33) - 0.01 * P * a)
                wr = (sh[0] + sign * (0.02 - 0.015 * a) * P * bw, Y(0.47) - 0.05 * P * a)
                arms.append((sh, el, wr, 1.0))
        return arms

    def leg_point(self, hip, knee, ankle, f):
        """Point on the leg at body fraction f (between hip and ankle)."""
        Y = self.y
        if Y(f) <= knee[1]:
            t = (Y(f) - hip[1]) / max(knee[1] - hip[1], 1e-6)
            return (hip[0] + t * (knee[0] - hip[0]), Y(f))
        t = (Y(f) - knee[1]) / max(ankle[1] - knee[1], 1e-6)
        return (knee[0] + t * (ankle[0] - knee[0]), Y(f))


# Each painter draws one layer; PAINT_ORDER (back to front) is what makes nearer parts cover farther ones.

def paint_behind(pt: Painter, f: Figure) -> None:
    """What the body hides: long hair and a backpack seen from the front, the far arm in side view."""
    P, cx, hx, Y = f.P, f.cx, f.hx, f.y
    long_hair = f.head["hair_style"] == "long" and f.head["hat"] != "beanie"
    if long_hair and f.view == "front":
        pt.polygon([(hx - f.hw_head * 1.25, f.hcy - f.hh * 0.3), (hx + f.hw_head * 1.25, f.hcy - f.hh * 0.3),
                    (hx + f.hw_head * 1.35, Y(0.22)), (hx - f.hw_head * 1.35, Y(0.22))], f.hair, HEAD)
    if f.upper["bag"] == "backpack" and f.view == "front":
        pt.rect((cx - f.sw - 0.015 * P, Y(0.19), cx + f.sw + 0.015 * P, Y(0.42)), shade(f.bcol, 0.8), UPPER)
    if f.side:
        sh, el, wr, dark = f.arms[0]                                         # far arm
        pt.limb([sh, el, wr], f.upper_arm, shade(f.ucol if f.upper["sleeves"] == "long" else f.skin, dark), UPPER)
        pt.ellipse((wr[0] - 0.02 * P, wr[1] - 0.02 * P, wr[0] + 0.02 * P, wr[1] + 0.02 * P), shade(f.skin, dark),
                   UPPER)


def paint_legs(pt: Painter, f: Figure) -> None:
    """Legs, shoes, then the top of the trousers / shorts / skirt over the hips."""
    P, cx, hw, Y, fd, side = f.P, f.cx, f.hw, f.y, f.fd, f.side
    garment, lcol, scol = f.legs["garment"], f.lcol, f.scol
    for hip, knee, ankle, dark in f.legs_xy:
        covered = garment == "trousers"
        pt.limb([hip, knee], f.thigh, shade(lcol if covered else f.skin, dark), LEGS)
        pt.limb([knee, ankle], f.shin, shade(lcol if covered else f.skin, dark), LEGS)
        if garment == "shorts":
            pt.limb([hip, f.leg_point(hip, knee, ankle, 0.64)], f.thigh * 1.12, shade(lcol, dark), LEGS)
        toe = fd * 0.025 * P if side else 0.0
        shoe_w, shoe_h = (0.045 if side else 0.03) * P, 0.018 * P
        if f.legs["shoes"] == "boots":
            pt.limb([f.leg_point(hip, knee, ankle, 0.88), ankle], f.shin * 1.15, shade(scol, dark), LEGS)
        pt.ellipse((ankle[0] + toe - shoe_w, ankle[1] + 0.005 * P, ankle[0] + toe + shoe_w,
                    ankle[1] + 0.005 * P + 2 * shoe_h), shade(scol, dark), LEGS)
        if f.legs["shoes"] == "sneakers":
            pt.rect((ankle[0] + toe - shoe_w * 0.9, ankle[1] + 0.005 * P + 1.5 * shoe_h,
                     ankle[0] + toe + shoe_w * 0.9, ankle[1] + 0.005 * P + 2 * shoe_h), (235, 235, 235), LEGS)
    if garment in ("trousers", "shorts"):
        pt.polygon([(cx - hw, f.yhip), (cx + hw, f.yhip), (cx + hw * 0.9, Y(0.57)), (cx - hw * 0.9, Y(0.57))], lcol,
                   LEGS)
    elif garment == "skirt":
        spread = 1.45 + (0.5 * abs(f.s) if side else 0.0)
        pt.polygon([(cx - hw, f.yhip), (cx + hw, f.yhip), (cx + hw * spread, Y(0.69)), (cx - hw * spread, Y(0.69))],
                   lcol, LEGS)


def paint_torso(pt: Painter, f: Figure) -> None:
    """Upper garment (with its texture), neck, and the garment's front details: collar, zip, buttons, logo, hem."""
    P, cx, hx, Y, ys, sw, yhem, ucol = f.P, f.cx, f.hx, f.y, f.ys, f.sw, f.yhem, f.ucol
    bottom_w = f.hw * (1.3 if f.coat else 1.04)                               # hem half-width: a coat flares
    torso = [(cx - sw * 0.78, ys), (cx + sw * 0.78, ys), (cx + sw, ys + 0.035 * P), (cx + bottom_w, yhem),
             (cx - bottom_w, yhem), (cx - sw, ys + 0.035 * P)]
    pattern = f.upper["pattern"]
    pt.textured_polygon(torso, ucol, pattern, f.pcol, 0.03 * P, UPPER)
    g = f.upper["garment"]
    pt.polygon([(hx - 0.022 * P, Y(0.11)), (hx + 0.022 * P, Y(0.11)), (hx + 0.026 * P, ys + 0.012 * P),
                (hx - 0.026 * P, ys + 0.012 * P)], f.skin, HEAD)
    if f.view == "front":
        if g == "shirt":
            collar = (236, 236, 236) if f.upper["color"] != "white" else (150, 150, 160)
            pt.polygon([(cx - 0.03 * P, ys - 0.004 * P), (cx, ys + 0.03 * P), (cx - 0.045 * P, ys + 0.02 * P)],
                       collar, UPPER)
            pt.polygon([(cx + 0.03 * P, ys - 0.004 * P), (cx, ys + 0.03 * P), (cx + 0.045 * P, ys + 0.02 * P)],
                       collar, UPPER)
        elif g in ("jacket", "coat"):
            pt.limb([(cx, ys + 0.01 * P), (cx, yhem - 0.005 * P)], max(1.0, 0.008 * P), shade(ucol, 0.55), UPPER)
            if f.coat:
                for fr in (0.26, 0.36, 0.46):
                    pt.ellipse((cx + 0.01 * P, Y(fr), cx + 0.022 * P, Y(fr) + 0.012 * P), shade(ucol, 0.45), UPPER)
        else:  # t-shirt / sweater: round neckline
            pt.chord((cx - 0.03 * P, ys - 0.02 * P, cx + 0.03 * P, ys + 0.025 * P), 0, 180, f.skin, HEAD)
        if pattern == "logo":
            r = 0.028 * P
            lx, ly = cx + 0.01 * P, Y(0.27)
            pt.polygon([(lx, ly - r), (lx + r, ly), (lx, ly + r), (lx - r, ly)], f.pcol, UPPER)
    if g == "sweater":
        pt.polygon([(cx - bottom_w, yhem - 0.02 * P), (cx + bottom_w, yhem - 0.02 * P), (cx + bottom_w, yhem),
                    (cx - bottom_w, yhem)], shade(ucol, 0.7), UPPER)


def paint_bag(pt: Painter, f: Figure) -> None:
    """Backpack or shoulder bag over the torso (a handbag hangs from the near hand: paint_near_arms)."""
    P, cx, Y, ys, sw, hw, fd, bcol = f.P, f.cx, f.y, f.ys, f.sw, f.hw, f.fd, f.bcol
    bag = f.upper["bag"]
    if bag == "backpack":
        if f.view == "back":
            pt.rect((cx - sw * 0.72, Y(0.19), cx + sw * 0.72, Y(0.43)), bcol, UPPER)
            pt.rect((cx - sw * 0.6, Y(0.19), cx + sw * 0.6, Y(0.25)), shade(bcol, 0.7), UPPER)
        elif f.view == "front":
            for sgn in (-1, 1):
                pt.limb([(cx + sgn * sw * 0.55, ys + 0.005 * P), (cx + sgn * sw * 0.62, Y(0.34))], 0.018 * P,
                        shade(bcol, 0.85), UPPER)
        else:
            bx = cx - fd * (sw + 0.02 * P)
            pt.rect((min(bx, bx - fd * 0.07 * P), Y(0.19), max(bx, bx - fd * 0.07 * P), Y(0.42)), bcol, UPPER)
            pt.limb([(cx - fd * sw * 0.3, ys + 0.01 * P), (cx - fd * sw * 0.4, Y(0.33))], 0.014 * P,
                    shade(bcol, 0.85), UPPER)
    elif bag == "shoulder bag":
        sgn = 1 if not f.side else -fd
        pt.limb([(cx - sgn * sw * 0.6, ys + 0.005 * P), (cx + sgn * hw * 1.1, Y(0.45))], 0.012 * P,
                shade(bcol, 0.8), UPPER)
        pt.rect((cx + sgn * hw * 0.8, Y(0.43), cx + sgn * (hw * 0.8 + 0.075 * P), Y(0.53)), bcol, UPPER)


def paint_near_arms(pt: Painter, f: Figure) -> None:
    """Arms in front of the torso (both in front / back view, the near one in side view), hands, a handbag."""
    P, bcol = f.P, f.bcol
    long_sleeve = f.upper["sleeves"] == "long"
    for i, (sh, el, wr, dark) in enumerate(f.arms):
        if f.side and i == 0:
            continue
        pt.limb([sh, el], f.upper_arm, shade(f.ucol, dark), UPPER)
        if not long_sleeve:
            mid = ((sh[0] + el[0]) / 2, (sh[1] + el[1]) / 2)
            pt.limb([mid, el], f.upper_arm * 0.85, shade(f.skin, dark), UPPER)
        pt.limb([el, wr], f.fore_arm, shade(f.ucol if long_sleeve else f.skin, dark), UPPER)
        pt.ellipse((wr[0] - 0.021 * P, wr[1] - 0.018 * P, wr[0] + 0.021 * P, wr[1] + 0.026 * P), shade(f.skin, dark),
                   UPPER)
        if f.upper["bag"] == "handbag" and i == len(f.arms) - 1:
            pt.limb([wr, (wr[0], wr[1] + 0.04 * P)], 0.008 * P, shade(bcol, 0.7), UPPER)
            pt.rect((wr[0] - 0.04 * P, wr[1] + 0.035 * P, wr[0] + 0.04 * P, wr[1] + 0.1 * P), bcol, UPPER)


def paint_head(pt: Painter, f: Figure) -> None:
    """Face, hair by style and view, a bun, eyes and (side view) the nose."""
    P, hx, Y, hcy, hh, hw_head, fd, side = f.P, f.hx, f.y, f.hcy, f.hh, f.hw_head, f.fd, f.side
    head_box, hair, skin = f.head_box, f.hair, f.skin
    hs = f.head["hair_style"]
    pt.ellipse(head_box, skin, HEAD)
    cover = f.head["hat"] != "none"
    if f.view == "back" and hs != "bald":
        pt.chord((head_box[0] - 1, head_box[1] - 1, head_box[2] + 1, head_box[3] + hh * 0.9), 180, 360, hair, HEAD)
        pt.rect((head_box[0] - 0.5, hcy - 1, head_box[2] + 0.5, hcy + hh * 0.55), hair, HEAD)
        if hs == "long":
            pt.polygon([(hx - hw_head * 1.1, hcy), (hx + hw_head * 1.1, hcy), (hx + hw_head * 1.25, Y(0.24)),
                        (hx - hw_head * 1.25, Y(0.24))], hair, HEAD)
        if hs == "ponytail":
            pt.limb([(hx, hcy + hh * 0.3), (hx, Y(0.2))], 0.03 * P, hair, HEAD)
    elif hs != "bald":
        # hair cap over the top of the head (shifted backwards in side view)
        off = -fd * hw_head * 0.25 if side else 0.0
        pt.chord((head_box[0] - 1 + off, head_box[1] - 1.5, head_box[2] + 1 + off, head_box[3] - hh * 0.4),
                 180, 360, hair, HEAD)
        if side and hs in ("long", "ponytail"):
            tail_x = hx - fd * hw_head * 0.9
            pt.limb([(tail_x, hcy - hh * 0.2), (tail_x - fd * 0.01 * P, Y(0.2 if hs == "long" else 0.15))],
                    0.03 * P if hs == "long" else 0.022 * P, hair, HEAD)
        elif hs == "long":
            for sgn in (-1, 1):
                pt.limb([(hx + sgn * hw_head * 0.95, hcy - hh * 0.4), (hx + sgn * hw_head * 1.05, Y(0.2))],
                        0.022 * P, hair, HEAD)
    if hs == "bun" and not cover:
        r = 0.024 * P
        bxx = hx - (fd * hw_head * 0.7 if side else 0.0)
        pt.ellipse((bxx - r, head_box[1] - r * 1.2, bxx + r, head_box[1] + r * 0.8), hair, HEAD)
    if f.view != "back":
        eye = max(1.0, 0.006 * P)
        ey = hcy - hh * 0.05
        xs_eye = [hx + fd * hw_head * 0.55] if side else [hx - hw_head * 0.4, hx + hw_head * 0.4]
        for ex in xs_eye:
            pt.ellipse((ex - eye, ey - eye, ex + eye, ey + eye), (30, 24, 22), HEAD)
        if side:
            pt.polygon([(hx + fd * hw_head * 0.95, hcy - hh * 0.1), (hx + fd * hw_head * 1.25, hcy + hh * 0.2),
                        (hx + fd * hw_head * 0.95, hcy + hh * 0.3)], skin, HEAD)


def paint_hat(pt: Painter, f: Figure) -> None:
    """Cap (peak by view), beanie or sun hat, over the hair."""
    hat = f.head["hat"]
    if hat == "none":
        return
    P, hx, hcy, hh, hw_head, fd, head_box = f.P, f.hx, f.hcy, f.hh, f.hw_head, f.fd, f.head_box
    hcol = COLORS[f.head["hat_color"]]
    if hat == "cap":
        pt.chord((head_box[0] - 1, head_box[1] - 2, head_box[2] + 1, head_box[3] - hh * 0.5), 180, 360, hcol, HEAD)
        if f.side:
            bx0 = hx + fd * hw_head * 0.6
            pt.rect((min(bx0, bx0 + fd * 0.045 * P), hcy - hh * 0.5, max(bx0, bx0 + fd * 0.045 * P),
                     hcy - hh * 0.35), shade(hcol, 0.8), HEAD)
        elif f.view == "front":
            pt.ellipse((hx - hw_head * 1.1, hcy - hh * 0.6, hx + hw_head * 1.1, hcy - hh * 0.3),
                       shade(hcol, 0.8), HEAD)
    elif hat == "beanie":
        pt.chord((head_box[0] - 1.5, head_box[1] - 3, head_box[2] + 1.5, head_box[3] - hh * 0.1), 180, 360,
                 hcol, HEAD)
        pt.rect((head_box[0] - 1.5, hcy - hh * 0.2, head_box[2] + 1.5, hcy - hh * 0.02), shade(hcol, 0.8), HEAD)
    else:  # sunhat: wide brim + crown
        pt.ellipse((hx - hw_head * 2.0, hcy - hh * 0.72, hx + hw_head * 2.0, hcy - hh * 0.38), hcol, HEAD)
        pt.chord((head_box[0], head_box[1] - 3, head_box[2], head_box[3] - hh * 0.6), 180, 360,
                 shade(hcol, 0.85), HEAD)


PAINT_ORDER = (paint_behind, paint_legs, paint_torso, paint_bag, paint_near_arms, paint_head, paint_hat)


def draw_person(canvas: Image.Image, label: Image.Image, ident: dict, pose: Pose, cx: float, feet_y: float,
                height_px: float) -> None:
    """Draws `ident` standing on (cx, feet_y) with total height `height_px` (already including body height)."""
    figure, pt = Figure(ident, pose, cx, feet_y, height_px), Painter(canvas, label)
    for paint in PAINT_ORDER:
        paint(pt, figure)
