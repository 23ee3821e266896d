"""One benchmark image: camera background + pedestrian + optional occluder + camera/domain optics, and the part boxes.

Frame: 128 (w) x 256 (h). The figure is drawn on a canvas padded by PAD px on every side, so that the fraction of a
part pushed out of the frame (detector misalignment) can be measured like the fraction hidden by an occluder.
"""
from __future__ import annotations

import io
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from .backgrounds import make_plate
from .domains import DomainStyle
from .figure import HEAD, HEIGHT, LEGS, UPPER, Pose, draw_person

W, H = 128, 256
PAD = 40
PLATE_MARGIN = 12
OCCLUDER = 4
PART_IDS = {"head": HEAD, "upper": UPPER, "legs": LEGS}
MIN_VISIBLE = 0.5   # a part with less than half of its pixels visible (frame or occluder) gets a null box
OCCLUDER_KINDS = ("barrier", "pole", "passerby", "bush")


def plate_for(style: DomainStyle, camera: dict, seed: int, domain_index: int) -> np.ndarray:
    """The camera's background plate (uint8), a little larger than the padded canvas."""
    rng = np.random.default_rng([seed, domain_index, 1000 + camera["camid"]])
    return make_plate(camera["scene"], rng, H + 2 * PAD + 2 * PLATE_MARGIN, W + 2 * PAD + 2 * PLATE_MARGIN,
                      camera["palette"]).astype(np.uint8)


def sample_pose(rng: np.random.Generator, camera: dict) -> Pose:
    view = ("front", "back", "side")[min(2, int(np.searchsorted(np.cumsum(camera["view_probs"]), rng.random())))]
    return Pose(view=view, facing=1 if rng.random() < 0.5 else -1, phase=float(rng.uniform(0, 2 * np.pi)),
                lean=float(rng.normal(0, 0.006)))


def _shade_person(frame: np.ndarray, label: np.ndarray, cx: float, P: float) -> np.ndarray:
    """Cylinder-like horizontal shading and a dark outline, so the flat-filled figure reads as a body.
    `frame` is uint8; only the person's bounding rows/columns are touched (a shaded copy is returned)."""
    person = (label > 0) & (label < OCCLUDER)
    rows, cols = np.flatnonzero(person.any(1)), np.flatnonzero(person.any(0))
    if rows.size == 0:
        return frame
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    p = person[y0:y1, x0:x1]
    inner = p.copy()
    inner[1:, :] &= p[:-1, :]
    inner[:-1, :] &= p[1:, :]
    inner[:, 1:] &= p[:, :-1]
    inner[:, :-1] &= p[:, 1:]
    xs = (np.arange(x0, x1, dtype=np.float32) - cx) / (0.17 * P)
    factor = np.broadcast_to(1.0 - 0.22 * np.clip(xs * xs, 0, 1.3), p.shape)
    factor = np.where(p, np.where(inner, factor, factor * 0.72), np.float32(1.0)).astype(np.float32)
    frame = frame.copy()
    frame[y0:y1, x0:x1] = (frame[y0:y1, x0:x1] * factor[..., None]).astype(np.uint8)
    return frame


def _occlude(rng, img: Image.Image, label: Image.Image, kind: str) -> None:
    d, l = ImageDraw.Draw(img), ImageDraw.Draw(label)
    col = tuple(int(c) for c in rng.integers(30, 220, 3))
    if kind == "barrier":       # car / bench / railing from the bottom
        top = H * rng.uniform(0.55, 0.75)
        x0, x1 = (-5, W + 5) if rng.random() < 0.6 else sorted(rng.uniform(-20, W + 20, 2))
        box = (x0, top, x1, H + 5)
        d.rectangle(box, fill=col)
        l.rectangle(box, fill=OCCLUDER)
        d.rectangle((x0, top, x1, top + 4), fill=tuple(int(c * 0.6) for c in col))
    elif kind == "pole":
        x = rng.uniform(10, W - 10)
        w = rng.uniform(8, 18)
        d.rectangle((x - w / 2, -5, x + w / 2, H + 5), fill=col)
        l.rectangle((x - w / 2, -5, x + w / 2, H + 5), fill=OCCLUDER)
    elif kind == "passerby":    # a shoulder / body of someone closer to the camera at one side
        left = rng.random() < 0.5
        cx = rng.uniform(-30, 10) if left else rng.uniform(W - 10, W + 30)
        box = (cx - 40, H * rng.uniform(0.15, 0.4), cx + 40, H + 40)
        d.ellipse(box, fill=col)
        l.ellipse(box, fill=OCCLUDER)
    else:                       # bush: a few green blobs from the bottom
        for _ in range(4):
            cx, r = rng.uniform(0, W), rng.uniform(22, 40)
            cy = H * rng.uniform(0.78, 0.95)
            g = (int(rng.integers(30, 70)), int(rng.integers(90, 150)), int(rng.integers(30, 70)))
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=g)
            l.ellipse((cx - r, cy - r, cx + r, cy + r), fill=OCCLUDER)


def part_boxes(full_counts: np.ndarray, label: np.ndarray) -> Dict[str, Optional[list]]:
    """Boxes [x0, y0, x1, y1] (x1/y1 exclusive) of the visible pixels of each part; null when less than
    MIN_VISIBLE of the part's pixels are visible in the frame."""
    boxes: Dict[str, Optional[list]] = {}
    any_visible = np.zeros_like(label, dtype=bool)
    for name, pid in PART_IDS.items():
        vis = label == pid
        any_visible |= vis
        n = int(vis.sum())
        if full_counts[pid] == 0 or n < MIN_VISIBLE * full_counts[pid]:
            boxes[name] = None
            continue
        rows, cols = np.flatnonzero(vis.any(1)), np.flatnonzero(vis.any(0))
        boxes[name] = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
    if any_visible.any():
        rows, cols = np.flatnonzero(any_visible.any(1)), np.flatnonzero(any_visible.any(0))
        boxes["person"] = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
    else:
        boxes["person"] = None
    return boxes


_LUTS: Dict[tuple, np.ndarray] = {}
_NOISE: Dict[float, np.ndarray] = {}


def _tone_lut(style: DomainStyle, camera: dict) -> np.ndarray:
    """(768,) uint8 lookup: camera white balance / exposure, then domain contrast and gamma, per channel."""
    key = (style.name, camera["camid"], tuple(camera["gain"]), camera["brightness"], style.contrast, style.gamma)
    if key not in _LUTS:
        if len(_LUTS) > 4096:   # web images (domain W) each bring their own curve
            _LUTS.clear()
        x = np.arange(256, dtype=np.float64)
        gains = np.asarray(camera["gain"]) * camera["brightness"]
        curves = [np.clip((x * g - 128.0) * style.contrast + 128.0, 0, 255) for g in gains]
        _LUTS[key] = np.concatenate([255.0 * (c / 255.0) ** style.gamma for c in curves]).round().astype(np.uint8)
    return _LUTS[key]


def _noise_bank(sigma: float) -> np.ndarray:
    """A fixed (2H, 2W, 3) field of N(0, sigma) noise; images take random crops of it (drawing fresh Gaussian
    noise per pixel dominated the rendering time). Seeded by sigma only, so it is the same in every process."""
    if sigma not in _NOISE:
        rng = np.random.default_rng([7, int(sigma * 1000)])
        _NOISE[sigma] = np.round(rng.standard_normal((2 * H, 2 * W, 3)) * sigma).clip(-127, 127).astype(np.int16)
    return _NOISE[sigma]


def _blur_filter(radius: float):
    """Gaussian blur; below 1 px a 3x3 kernel (PIL's GaussianBlur costs several times more at these radii)."""
    if radius >= 1.0:
        return ImageFilter.GaussianBlur(radius)
    g = np.exp(-0.5 * (np.arange(-1, 2) / radius) ** 2)
    k = np.outer(g, g)
    return ImageFilter.Kernel((3, 3), (k / k.sum()).ravel().tolist(), scale=1.0)


def _optics(rng, frame: np.ndarray, style: DomainStyle, camera: dict) -> Image.Image:
    # frame: (H, W, 3) uint8
    """Tone curve (LUT), saturation, resolution loss with blur (done at the low resolution: cheaper), noise."""
    img = Image.fromarray(np.take(_tone_lut(style, camera), frame + np.array([0, 256, 512], np.int16)))
    if style.saturation != 1.0:
        img = ImageEnhance.Color(img).enhance(style.saturation)
    f = rng.uniform(*style.lowres)
    radius = (rng.uniform(*style.blur) + camera["blur_extra"] * 0.5) / f
    small = img.resize((max(8, int(W / f)), max(16, int(H / f))), Image.BILINEAR) if f > 1.05 else img
    if radius > 0.15:
        small = small.filter(_blur_filter(radius))
    img = small.resize((W, H), Image.BILINEAR) if small.size != (W, H) else small
    if style.noise > 0:
        bank = _noise_bank(style.noise)
        oy, ox = int(rng.integers(0, H + 1)), int(rng.integers(0, W + 1))
        noisy = np.asarray(img, np.int16) + bank[oy:oy + H, ox:ox + W]
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return img


def render(ident: dict, style: DomainStyle, camera: dict, plate: np.ndarray, rng: np.random.Generator
           ) -> Tuple[Image.Image, Dict[str, Optional[list]], dict]:
    """(RGB 128x256 image, part boxes, per-image metadata) of one sighting of `ident` in `camera`."""
    pose = sample_pose(rng, camera)
    hf = 1.0 + 0.5 * (HEIGHT[ident["body"]["height"]] - 1.0)   # crops normalise height: only a weak cue remains
    P = H * rng.uniform(*style.person_height) * hf
    P = min(P, H * 0.99)
    cx = W / 2 + rng.normal(0, style.center_jitter[0])
    feet = P + (H - P) * 0.5 + rng.normal(0, style.center_jitter[1])
    cutoff = rng.random() < style.cutoff_prob
    if cutoff:
        feet += (1 if rng.random() < 0.5 else -1) * P * rng.uniform(0.08, 0.16)
    oy, ox = rng.integers(0, 2 * PLATE_MARGIN + 1, 2)
    img = Image.fromarray(np.ascontiguousarray(plate[oy:oy + H + 2 * PAD, ox:ox + W + 2 * PAD]))
    label = Image.new("L", img.size, 0)
    draw_person(img, label, ident, pose, cx + PAD, feet + PAD, P)
    lab = np.asarray(label)
    full_counts = np.bincount(lab.ravel(), minlength=OCCLUDER + 1)
    lab = np.ascontiguousarray(lab[PAD:PAD + H, PAD:PAD + W])
    frame = Image.fromarray(_shade_person(np.asarray(img)[PAD:PAD + H, PAD:PAD + W], lab, cx, P))
    frame_label = Image.fromarray(lab)
    occluder = None
    if rng.random() < style.occlusion_prob:
        occluder = OCCLUDER_KINDS[int(rng.integers(len(OCCLUDER_KINDS)))]
        _occlude(rng, frame, frame_label, occluder)
    boxes = part_boxes(full_counts, np.asarray(frame_label))
    out = _optics(rng, np.asarray(frame), style, camera)
    quality = int(rng.integers(style.jpeg_quality[0], style.jpeg_quality[1] + 1))
    meta = {"view": pose.view, "occluder": occluder, "cutoff": bool(cutoff), "jpeg_quality": quality}
    return out, boxes, meta


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
