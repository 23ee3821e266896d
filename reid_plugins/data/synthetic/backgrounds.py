"""Per-camera background plates (numpy, vectorised). A surveillance camera is static, so each camera gets one plate
and images take slightly shifted crops of it; the scene kind and its colours come from the domain and the camera."""
from __future__ import annotations

import numpy as np
from PIL import Image

KINDS = ("campus", "brick", "mall", "street", "park", "corridor", "night")


def lowfreq(rng: np.random.Generator, h: int, w: int, gh: int, gw: int) -> np.ndarray:
    """Smooth random field in [-1, 1] of shape (h, w): a (gh, gw) random grid upsampled bicubically."""
    small = rng.uniform(-1, 1, size=(gh, gw)).astype(np.float32)
    return np.asarray(Image.fromarray(small, mode="F").resize((w, h), Image.BICUBIC), dtype=np.float32)


def _tint(base, field, amount):
    return np.asarray(base, np.float32)[None, None, :] * (1.0 + amount * field[..., None])


def _ground(rng, h, w, horizon, color, tile, grout, jitter):
    """Floor/pavement below the horizon: tiles whose size shrinks toward the horizon (cheap perspective)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.clip(yy - horizon, 1, None) / max(h - horizon, 1)          # 0 at horizon .. 1 at bottom
    size = tile * (0.35 + 0.65 * depth)
    u = (xx - w / 2) / size
    v = (yy - horizon) / size / 0.6
    iu, iv = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    cell = ((iu * 73856093) ^ (iv * 19349663)) % 997 / 997.0              # per-tile brightness hash
    img = _tint(color, (cell - 0.5) * 2, jitter)
    lines = (np.abs(u - np.round(u)) < 0.05) | (np.abs(v - np.round(v)) < 0.05 / 0.6)
    img[lines] = img[lines] * grout
    return img


def make_plate(kind: str, rng: np.random.Generator, h: int, w: int, palette: dict) -> np.ndarray:
    """An (h, w, 3) float32 plate in [0, 255]. `palette` holds the camera's wall/ground colours and horizon."""
    wall = np.asarray(palette["wall"], np.float32)
    ground = np.asarray(palette["ground"], np.float32)
    horizon = int(palette["horizon"] * h)
    noise = lowfreq(rng, h, w, 6, 4)
    yy, xx = np.mgrid[0:h, 0:w]
    img = _ground(rng, h, w, horizon, ground, palette.get("tile", 26), palette.get("grout", 0.85), 0.12)
    top = np.empty((horizon, w, 3), np.float32)
    if kind in ("campus", "street"):
        top[:] = _tint(wall, noise[:horizon], 0.10)
        # window grid on a facade
        wy, wx = yy[:horizon], xx[:horizon]
        pw, ph = palette.get("window", (22, 30))
        win = ((wx % pw) > pw * 0.35) & ((wy % ph) > ph * 0.4)
        top[win] = top[win] * 0.55 + np.asarray(palette["accent"], np.float32) * 0.25
        if kind == "street":  # a kerb line and a road band
            band = (yy >= horizon) & (yy < horizon + h // 10)
            img[band] = img[band] * 0.7
    elif kind == "brick":
        by, bx = 9, 20
        row = yy[:horizon] // by
        col = (xx[:horizon] + (row % 2) * (bx // 2)) // bx
        cell = ((row * 92821) ^ (col * 68917)) % 101 / 101.0
        top[:] = _tint(wall, (cell - 0.5) * 2 + 0.3 * noise[:horizon], 0.15)
        mortar = ((yy[:horizon] % by) < 1.5) | (((xx[:horizon] + (row % 2) * (bx // 2)) % bx) < 1.5)
        top[mortar] = np.asarray(palette["accent"], np.float32)
    elif kind in ("mall", "corridor"):
        top[:] = _tint(wall, noise[:horizon] * 0.5, 0.08)
        pw = palette.get("panel", 34)
        edge = (xx[:horizon] % pw) < 2
        top[edge] = top[edge] * 0.75
        if kind == "mall":  # shop-window glow
            glow = np.exp(-((xx[:horizon] - w * 0.5) / (w * 0.3)) ** 2)[..., None]
            top = top * 0.8 + glow * np.asarray(palette["accent"], np.float32) * 0.3
        # glossy floor: reflection gradient
        img = img * (0.85 + 0.3 * np.exp(-(yy - horizon) / (0.3 * h)))[..., None]
    elif kind == "park":
        top[:] = _tint(wall, noise[:horizon], 0.25)
        leaves = lowfreq(rng, h, w, 14, 9)[:horizon]
        top[leaves > 0.2] = top[leaves > 0.2] * 0.6 + np.asarray(palette["accent"], np.float32) * 0.35
    elif kind == "night":
        top[:] = _tint(wall, noise[:horizon], 0.3) * 0.5
        lamp = np.exp(-(((xx[:horizon] - w * palette.get("lamp_x", 0.3)) / (w * 0.25)) ** 2
                        + ((yy[:horizon] - horizon * 0.2) / (horizon * 0.5 + 1)) ** 2))
        top = top + lamp[..., None] * np.asarray(palette["accent"], np.float32) * 0.6
        img = img * 0.6
    else:
        raise ValueError(f"unknown background kind {kind!r}; expected one of {KINDS}")
    img[:horizon] = top
    img *= (1.0 + 0.08 * noise)[..., None]
    return np.clip(img, 0, 255)
