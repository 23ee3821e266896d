"""Contact sheet: a few images per domain with their ground-truth part boxes (PNG, matplotlib Agg).

The tiles and boxes are composed with PIL into one mosaic (a matplotlib axis per tile costs seconds);
matplotlib then lays out the mosaic with the row labels and the legend.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from ...utils.figures import save_figure  # noqa: E402
from ...utils.io import read_json  # noqa: E402
from .domains import DOMAIN_NAMES  # noqa: E402

BOX_COLORS = {"person": (255, 217, 47), "head": (228, 26, 28), "upper": (77, 175, 74), "legs": (55, 126, 184)}
ZOOM = 1
GAP = 4


def _pick_examples(captions: list, meta: dict, n: int) -> list:
    """Spread over identities; include occluded images when there are some. Where people change clothes: n // 2
    people, each shown in their own outfit and then in another one."""
    if any(c.get("outfit") for c in captions):
        first_in = {}
        for c in captions:
            first_in.setdefault(c["id"], {}).setdefault(c["outfit"], c)
        changers = [outfits for outfits in first_in.values() if len(outfits) > 1 and 0 in outfits]
        step = max(1, len(changers) // max(1, n // 2))
        return [o[k] for o in changers[::step][:n // 2] for k in (0, min(k for k in o if k))]
    seen_ids, chosen = set(), []
    hard = [c for c in captions if meta.get(os.path.basename(c["file_path"]), {}).get("occluder")]
    for c in hard[:max(1, n // 4)] + captions[::max(1, len(captions) // (3 * n))]:
        if c["id"] in seen_ids:
            continue
        seen_ids.add(c["id"])
        chosen.append(c)
        if len(chosen) == n:
            break
    return chosen


def _tile(path: str, boxes: dict) -> Image.Image:
    img = Image.open(path).convert("RGB")
    img = img.resize((img.width * ZOOM, img.height * ZOOM), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    for part, box in boxes.items():
        if box is not None:
            x0, y0, x1, y1 = (v * ZOOM for v in box)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=BOX_COLORS[part], width=1)
    return img


def contact_sheet(base: str, out_png: str, domains: Optional[Sequence[str]] = None, per_domain: int = 8) -> str:
    """Writes `out_png` from the generated domains under `base` (<root>/synthped); returns its path."""
    domains = [d for d in (domains or DOMAIN_NAMES) if os.path.isfile(os.path.join(base, d, "domain.json"))]
    if not domains:
        raise FileNotFoundError(f"no generated synthetic domain under {base!r} (expected {base}/domain_A/domain.json)")
    tw, th = 128 * ZOOM, 256 * ZOOM
    mosaic = np.full((len(domains) * (th + GAP), per_domain * (tw + GAP), 3), 255, np.uint8)
    labels = []
    for r, d in enumerate(domains):
        ddir = os.path.join(base, d)
        loaded = {name: read_json(os.path.join(ddir, f"{name}.json"), f"synthped {d} {name}",
                                  fix="regenerate the benchmark (python -m reid_plugins.data.synthetic --force)")
                  for name in ("captions", "parts", "meta", "domain")}
        for c, item in enumerate(_pick_examples(loaded["captions"], loaded["meta"], per_domain)):
            tile = _tile(os.path.join(ddir, item["file_path"]), loaded["parts"][os.path.basename(item["file_path"])])
            y, x = r * (th + GAP), c * (tw + GAP)
            mosaic[y:y + th, x:x + tw] = np.asarray(tile)
        info = loaded["domain"]
        if info.get("web"):
            labels.append(f"{d}\npretraining corpus\n(not a benchmark)\nown look per image")
            continue
        pairs = "\npairs: a person in\ntwo outfits" if info.get("outfit_change_prob") else ""
        labels.append(f"{d}\n{info['role'].split(' (')[0]}-like\n{info['num_cameras']} cameras{pairs}")
    fig_w = mosaic.shape[1] / 100 + 1.6
    fig, ax = plt.subplots(figsize=(fig_w, mosaic.shape[0] / 100 + 0.6))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * (th + GAP) + th / 2 for r in range(len(domains))])
    ax.set_yticklabels(labels, fontsize=9)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title("synthped: sample images with ground-truth part boxes (parts.json)", fontsize=10)
    fig.legend(handles=[Patch(fill=False, edgecolor=np.array(c) / 255, label=p) for p, c in BOX_COLORS.items()],
               loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.subplots_adjust(left=1.5 / fig_w, right=0.99, top=0.96, bottom=0.04)
    return save_figure(fig, out_png, dpi=100)
