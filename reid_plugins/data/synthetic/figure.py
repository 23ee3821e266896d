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


def draw_person(canvas: Image.Image, label: Image.Image, ident: dict, pose: Pose, cx: float, feet_y: float,
                height_px: float) -> None:
    """Draws `ident` standing on (cx, feet_y) with total height `height_px` (already including body height)."""
    P = height_px
    top = feet_y - P
    Y = lambda f: top + f * P  # noqa: E731
    body, head, upper, legs = ident["body"], ident["head"], ident["upper"], ident["legs"]
    bw = BUILD[body["build"]]
    female = body["gender"] == "female"
    skin = SKIN_TONES[head["skin"]]
    hair = HAIR_COLORS[head["hair_color"]]
    ucol = COLORS[upper["color"]]
    pcol = COLORS[upper["pattern_color"]] if upper["pattern_color"] else ucol
    lcol = COLORS[legs["color"]]
    scol = COLORS[legs["shoe_color"]]
    bcol = COLORS[upper["bag_color"]] if upper["bag_color"] else None
    pt = Painter(canvas, label)
    s = float(np.sin(pose.phase))
    side = pose.view == "side"
    fd = pose.facing
    hx = cx + pose.lean * P

    # --- geometry -------------------------------------------------------------------------------------------------
    sw = (0.075 if side else 0.13) * P * bw * (0.9 if female else 1.0)     # shoulder half-width
    hw = (0.068 if side else 0.092) * P * bw * (1.08 if female else 1.0)    # hip half-width
    ys, yhem, yhip = Y(0.165), Y(0.50), Y(0.49)
    coat = upper["garment"] == "coat"
    if coat:
        yhem = Y(0.66)
    hip_l, hip_r = (cx - hw * 0.5, Y(0.52)), (cx + hw * 0.5, Y(0.52))
    thigh, shin = 0.084 * P * bw ** 0.7, 0.062 * P * bw ** 0.6
    if side:
        legs_xy = []
        for sign, dark in ((-1, 0.75), (1, 1.0)):                            # far leg first, darker
            sw_ = sign * s
            knee = (cx + fd * sw_ * 0.07 * P, Y(0.73))
            ankle = (cx + fd * sw_ * 0.15 * P, Y(0.955) - 0.02 * P * max(0.0, -sw_))
            legs_xy.append(((cx, Y(0.52)), knee, ankle, dark))
    else:
        legs_xy = []
        for hip, sign, lift in ((hip_l, -1, max(0.0, s)), (hip_r, 1, max(0.0, -s))):
            knee = (hip[0] + sign * 0.012 * P, Y(0.73) - 0.012 * P * lift)
            ankle = (hip[0] + sign * (0.012 + 0.02 * abs(s)) * P, Y(0.955) - 0.03 * P * lift)
            legs_xy.append((hip, knee, ankle, 1.0))

    def leg_point(hip, knee, ankle, f):
        """Point on the leg at body fraction f (between hip and ankle)."""
        if Y(f) <= knee[1]:
            t = (Y(f) - hip[1]) / max(knee[1] - hip[1], 1e-6)
            return (hip[0] + t * (knee[0] - hip[0]), Y(f))
        t = (Y(f) - knee[1]) / max(ankle[1] - knee[1], 1e-6)
        return (knee[0] + t * (ankle[0] - knee[0]), Y(f))

    # arms: (shoulder, elbow, wrist, darkness)
    if side:
        arms = []
        for sign, dark in ((1, 0.75), (-1, 1.0)):                             # arms swing opposite to the legs
            a = sign * s
            sh = (cx + fd * 0.01 * P, ys + 0.02 * P)
            el = (sh[0] + fd * a * 0.06 * P, Y(0.33))
            wr = (sh[0] + fd * a * 0.13 * P, Y(0.46) - 0.02 * P * abs(a))
            arms.append((sh, el, wr, dark))
    else:
        arms = []
        for sign, a in ((-1, max(0.0, -s)), (1, max(0.0, s))):
            sh = (cx + sign * (sw - 0.022 * P), ys + 0.022 * P)
            el = (sh[0] + sign * 0.018 * P * bw, Y(0.33) - 0.01 * P * a)
            wr = (sh[0] + sign * (0.02 - 0.015 * a) * P * bw, Y(0.47) - 0.05 * P * a)
            arms.append((sh, el, wr, 1.0))
    upper_arm, fore_arm = 0.056 * P * bw ** 0.7, 0.046 * P * bw ** 0.6

    # --- behind the body ------------------------------------------------------------------------------------------
    hw_head, hh = 0.05 * P, 0.064 * P                                       # head half-width / half-height
    hcy = Y(0.062)
    head_box = (hx - hw_head, hcy - hh, hx + hw_head, hcy + hh)
    long_hair = head["hair_style"] == "long" and head["hat"] != "beanie"
    if long_hair and pose.view == "front":
        pt.polygon([(hx - hw_head * 1.25, hcy - hh * 0.3), (hx + hw_head * 1.25, hcy - hh * 0.3),
                    (hx + hw_head * 1.35, Y(0.22)), (hx - hw_head * 1.35, Y(0.22))], hair, HEAD)
    bag = upper["bag"]
    if bag == "backpack" and pose.view == "front":
        pt.rect((cx - sw - 0.015 * P, Y(0.19), cx + sw + 0.015 * P, Y(0.42)), shade(bcol, 0.8), UPPER)
    if side:
        sh, el, wr, dark = arms[0]                                           # far arm
        pt.limb([sh, el, wr], upper_arm, shade(ucol if upper["sleeves"] == "long" else skin, dark), UPPER)
        pt.ellipse((wr[0] - 0.02 * P, wr[1] - 0.02 * P, wr[0] + 0.02 * P, wr[1] + 0.02 * P), shade(skin, dark), UPPER)

    # --- legs -----------------------------------------------------------------------------------------------------
    garment = legs["garment"]
    for hip, knee, ankle, dark in legs_xy:
        covered = garment == "trousers"
        pt.limb([hip, knee], thigh, shade(lcol if covered else skin, dark), LEGS)
        pt.limb([knee, ankle], shin, shade(lcol if covered else skin, dark), LEGS)
        if garment == "shorts":
            pt.limb([hip, leg_point(hip, knee, ankle, 0.64)], thigh * 1.12, shade(lcol, dark), LEGS)
        # shoes
        toe = fd * 0.025 * P if side else 0.0
        shoe_w, shoe_h = (0.045 if side else 0.03) * P, 0.018 * P
        if legs["shoes"] == "boots":
            pt.limb([leg_point(hip, knee, ankle, 0.88), ankle], shin * 1.15, shade(scol, dark), LEGS)
        pt.ellipse((ankle[0] + toe - shoe_w, ankle[1] + 0.005 * P, ankle[0] + toe + shoe_w,
                    ankle[1] + 0.005 * P + 2 * shoe_h), shade(scol, dark), LEGS)
        if legs["shoes"] == "sneakers":
            pt.rect((ankle[0] + toe - shoe_w * 0.9, ankle[1] + 0.005 * P + 1.5 * shoe_h,
                     ankle[0] + toe + shoe_w * 0.9, ankle[1] + 0.005 * P + 2 * shoe_h), (235, 235, 235), LEGS)
    if garment in ("trousers", "shorts"):
        pt.polygon([(cx - hw, yhip), (cx + hw, yhip), (cx + hw * 0.9, Y(0.57)), (cx - hw * 0.9, Y(0.57))], lcol, LEGS)
    elif garment == "skirt":
        spread = 1.45 + (0.5 * abs(s) if side else 0.0)
        pt.polygon([(cx - hw, yhip), (cx + hw, yhip), (cx + hw * spread, Y(0.69)), (cx - hw * spread, Y(0.69))],
                   lcol, LEGS)

    # --- torso ----------------------------------------------------------------------------------------------------
    bottom_w = hw * (1.3 if coat else 1.04)
    torso = [(cx - sw * 0.78, ys), (cx + sw * 0.78, ys), (cx + sw, ys + 0.035 * P), (cx + bottom_w, yhem),
             (cx - bottom_w, yhem), (cx - sw, ys + 0.035 * P)]
    pattern = upper["pattern"]
    pt.textured_polygon(torso, ucol, pattern, pcol, 0.03 * P, UPPER)
    g = upper["garment"]
    neck_col = skin
    pt.polygon([(hx - 0.022 * P, Y(0.11)), (hx + 0.022 * P, Y(0.11)), (hx + 0.026 * P, ys + 0.012 * P),
                (hx - 0.026 * P, ys + 0.012 * P)], neck_col, HEAD)
    if pose.view == "front":
        if g == "shirt":
            collar = (236, 236, 236) if upper["color"] != "white" else (150, 150, 160)
            pt.polygon([(cx - 0.03 * P, ys - 0.004 * P), (cx, ys + 0.03 * P), (cx - 0.045 * P, ys + 0.02 * P)],
                       collar, UPPER)
            pt.polygon([(cx + 0.03 * P, ys - 0.004 * P), (cx, ys + 0.03 * P), (cx + 0.045 * P, ys + 0.02 * P)],
                       collar, UPPER)
        elif g in ("jacket", "coat"):
            pt.limb([(cx, ys + 0.01 * P), (cx, yhem - 0.005 * P)], max(1.0, 0.008 * P), shade(ucol, 0.55), UPPER)
            if coat:
                for f in (0.26, 0.36, 0.46):
                    pt.ellipse((cx + 0.01 * P, Y(f), cx + 0.022 * P, Y(f) + 0.012 * P), shade(ucol, 0.45), UPPER)
        else:  # t-shirt / sweater: round neckline
            pt.chord((cx - 0.03 * P, ys - 0.02 * P, cx + 0.03 * P, ys + 0.025 * P), 0, 180, skin, HEAD)
        if pattern == "logo":
            r = 0.028 * P
            lx, ly = cx + 0.01 * P, Y(0.27)
            pt.polygon([(lx, ly - r), (lx + r, ly), (lx, ly + r), (lx - r, ly)], pcol, UPPER)
    if g == "sweater":
        pt.polygon([(cx - bottom_w, yhem - 0.02 * P), (cx + bottom_w, yhem - 0.02 * P), (cx + bottom_w, yhem),
                    (cx - bottom_w, yhem)], shade(ucol, 0.7), UPPER)

    # --- bags over the torso ----------------------------------------------------------------------------------------
    if bag == "backpack":
        if pose.view == "back":
            pt.rect((cx - sw * 0.72, Y(0.19), cx + sw * 0.72, Y(0.43)), bcol, UPPER)
            pt.rect((cx - sw * 0.6, Y(0.19), cx + sw * 0.6, Y(0.25)), shade(bcol, 0.7), UPPER)
        elif pose.view == "front":
            for sgn in (-1, 1):
                pt.limb([(cx + sgn * sw * 0.55, ys + 0.005 * P), (cx + sgn * sw * 0.62, Y(0.34))], 0.018 * P,
                        shade(bcol, 0.85), UPPER)
        else:
            bx = cx - fd * (sw + 0.02 * P)
            pt.rect((min(bx, bx - fd * 0.07 * P), Y(0.19), max(bx, bx - fd * 0.07 * P), Y(0.42)), bcol, UPPER)
            pt.limb([(cx - fd * sw * 0.3, ys + 0.01 * P), (cx - fd * sw * 0.4, Y(0.33))], 0.014 * P,
                    shade(bcol, 0.85), UPPER)
    elif bag == "shoulder bag":
        sgn = 1 if not side else -fd
        pt.limb([(cx - sgn * sw * 0.6, ys + 0.005 * P), (cx + sgn * hw * 1.1, Y(0.45))], 0.012 * P,
                shade(bcol, 0.8), UPPER)
        pt.rect((cx + sgn * hw * 0.8, Y(0.43), cx + sgn * (hw * 0.8 + 0.075 * P), Y(0.53)), bcol, UPPER)

    # --- near arms ----------------------------------------------------------------------------------------------------
    for i, (sh, el, wr, dark) in enumerate(arms):
        if side and i == 0:
            continue
        long_sleeve = upper["sleeves"] == "long"
        pt.limb([sh, el], upper_arm, shade(ucol, dark), UPPER)
        if not long_sleeve:
            mid = ((sh[0] + el[0]) / 2, (sh[1] + el[1]) / 2)
            pt.limb([mid, el], upper_arm * 0.85, shade(skin, dark), UPPER)
        pt.limb([el, wr], fore_arm, shade(ucol if long_sleeve else skin, dark), UPPER)
        pt.ellipse((wr[0] - 0.021 * P, wr[1] - 0.018 * P, wr[0] + 0.021 * P, wr[1] + 0.026 * P), shade(skin, dark),
                   UPPER)
        if bag == "handbag" and i == len(arms) - 1:
            pt.limb([wr, (wr[0], wr[1] + 0.04 * P)], 0.008 * P, shade(bcol, 0.7), UPPER)
            pt.rect((wr[0] - 0.04 * P, wr[1] + 0.035 * P, wr[0] + 0.04 * P, wr[1] + 0.1 * P), bcol, UPPER)

    # --- head -----------------------------------------------------------------------------------------------------
    hs = head["hair_style"]
    pt.ellipse(head_box, skin, HEAD)
    cover = head["hat"] != "none"
    if pose.view == "back" and hs != "bald":
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
    if pose.view != "back":
        eye = max(1.0, 0.006 * P)
        ey = hcy - hh * 0.05
        xs_eye = [hx + fd * hw_head * 0.55] if side else [hx - hw_head * 0.4, hx + hw_head * 0.4]
        for ex in xs_eye:
            pt.ellipse((ex - eye, ey - eye, ex + eye, ey + eye), (30, 24, 22), HEAD)
        if side:
            pt.polygon([(hx + fd * hw_head * 0.95, hcy - hh * 0.1), (hx + fd * hw_head * 1.25, hcy + hh * 0.2),
                        (hx + fd * hw_head * 0.95, hcy + hh * 0.3)], skin, HEAD)

    # --- hat ------------------------------------------------------------------------------------------------------
    hat = head["hat"]
    if hat != "none":
        hcol = COLORS[head["hat_color"]]
        if hat == "cap":
            pt.chord((head_box[0] - 1, head_box[1] - 2, head_box[2] + 1, head_box[3] - hh * 0.5), 180, 360, hcol, HEAD)
            if side:
                bx0 = hx + fd * hw_head * 0.6
                pt.rect((min(bx0, bx0 + fd * 0.045 * P), hcy - hh * 0.5, max(bx0, bx0 + fd * 0.045 * P),
                         hcy - hh * 0.35), shade(hcol, 0.8), HEAD)
            elif pose.view == "front":
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
