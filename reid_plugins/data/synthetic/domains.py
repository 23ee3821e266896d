"""The synthetic domains and their cameras.

Domains A-D each play the role of a real Re-ID benchmark and differ in scene, illumination, colour cast, optics
(resolution loss, blur, noise, JPEG quality), framing (person scale, detector jitter, cut-off), occlusion rate,
clothing priors (season/location) and number of cameras. Cameras inside a domain differ again (own scene colours,
colour gains, brightness, viewpoint mix), so that cross-camera matching is non-trivial.

Domain E is domain A's campus where people change clothes between cameras (like PRCC / LTCC, and like the
clothing changes BDAM's identity / clothing decoupling is meant for): the only domain where clothing is not
identity. It is planned after A-D, so adding it changed none of their images.

Domain W (SynthPed-W) is not a benchmark domain: it is the "web" corpus the model zoo (reid_plugins.zoo) pretrains
on, the stand-in for the web images CLIP and ImageNet models are trained on. Every image draws its own look (scene,
light, optics, framing, occlusion; reid_plugins.data.synthetic.web) and every family of identities its own
clothing priors, from distributions that bracket domains A-D without copying any one of them. It is planned after
A-E, so adding it changed none of their images, and none of its identities shares its full attribute set with an
identity of A-E.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

from .attributes import BRIGHT, DARK


def _colors(bright: float, dark: float) -> Dict[str, float]:
    w = {c: bright for c in BRIGHT}
    w.update({c: dark for c in DARK})
    w.setdefault("beige", 1.0)
    return w


@dataclass(frozen=True)
class DomainStyle:
    name: str                       # folder name, e.g. "domain_A"
    role: str                       # which real benchmark it stands in for
    num_cameras: int
    scene_kinds: Tuple[str, ...]    # background kinds the cameras draw from (backgrounds.KINDS)
    wall_colors: Tuple[Tuple[int, int, int], ...]
    ground_colors: Tuple[Tuple[int, int, int], ...]
    accent_colors: Tuple[Tuple[int, int, int], ...]
    color_gain: Tuple[float, float, float]   # domain-wide colour cast (multiplicative RGB gains)
    brightness: float               # multiplicative
    contrast: float
    saturation: float               # 1 = unchanged, <1 washed out
    gamma: float
    camera_gain_std: float          # per-camera log-gain std (each camera its own white balance)
    camera_brightness_std: float
    person_height: Tuple[float, float]       # person height as a fraction of 256 px (min, max)
    center_jitter: Tuple[float, float]       # detector misalignment (x, y) in px, std
    cutoff_prob: float              # probability that the box cuts the person at the top or bottom
    view_probs: Tuple[float, float, float]   # front, back, side
    occlusion_prob: float
    lowres: Tuple[float, float]     # downscale factor range before upsampling back (1 = sharp)
    blur: Tuple[float, float]       # Gaussian blur radius range (px)
    noise: float                    # Gaussian noise std (0-255 scale)
    jpeg_quality: Tuple[int, int]
    priors: Dict[str, Dict[str, float]] = field(default_factory=dict)
    # probability that a person wears another outfit (upper + legs) in a camera other than the first that sees them
    outfit_change_prob: float = 0.0
    # web corpus: every image draws its own look and every family its own clothing priors (synthetic.web); the
    # "cameras" are then only scene plates
    web: bool = False

    @property
    def changes_clothes(self) -> bool:
        return self.outfit_change_prob > 0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


DOMAINS: Dict[str, DomainStyle] = {
    "domain_A": DomainStyle(
        name="domain_A", role="Market-1501 (summer campus, 6 cameras, sharp)", num_cameras=6,
        scene_kinds=("campus", "street", "park"),
        wall_colors=((196, 186, 164), (176, 170, 160), (150, 160, 140), (200, 196, 184)),
        ground_colors=((150, 146, 138), (170, 160, 140), (120, 124, 120)),
        accent_colors=((80, 110, 150), (60, 120, 60), (150, 120, 90)),
        color_gain=(1.04, 1.0, 0.94), brightness=1.05, contrast=1.05, saturation=1.05, gamma=1.0,
        camera_gain_std=0.05, camera_brightness_std=0.07,
        person_height=(0.80, 0.90), center_jitter=(4.0, 5.0), cutoff_prob=0.04,
        view_probs=(0.4, 0.35, 0.25), occlusion_prob=0.06,
        lowres=(1.0, 1.3), blur=(0.0, 0.5), noise=3.0, jpeg_quality=(85, 95),
        priors={"upper.color": _colors(1.6, 0.7), "legs.color": _colors(0.8, 1.2),
                "upper.garment": {"t-shirt": 3.0, "shirt": 2.0, "sweater": 0.5, "jacket": 0.5, "coat": 0.2},
                "legs.garment": {"trousers": 2.0, "shorts": 1.6, "skirt": 0.8},
                "upper.sleeves": {"short": 2.0, "long": 1.0},
                "head.hat": {"none": 4.0, "cap": 1.0, "beanie": 0.1, "sunhat": 0.5},
                "legs.shoes": {"sneakers": 3.0, "boots": 0.3, "shoes": 1.0}},
    ),
    "domain_B": DomainStyle(
        name="domain_B", role="DukeMTMC-reID (winter campus, 8 cameras, overcast, cold cast)", num_cameras=8,
        scene_kinds=("brick", "street", "campus"),
        wall_colors=((150, 84, 64), (120, 110, 108), (170, 150, 140), (96, 90, 96)),
        ground_colors=((200, 204, 210), (110, 112, 118), (150, 150, 156)),
        accent_colors=((210, 205, 200), (60, 60, 70), (120, 140, 170)),
        color_gain=(0.95, 0.99, 1.06), brightness=0.93, contrast=0.93, saturation=0.88, gamma=1.05,
        camera_gain_std=0.06, camera_brightness_std=0.09,
        person_height=(0.76, 0.88), center_jitter=(5.0, 6.0), cutoff_prob=0.10,
        view_probs=(0.3, 0.35, 0.35), occlusion_prob=0.18,
        lowres=(1.1, 1.4), blur=(0.2, 0.6), noise=3.5, jpeg_quality=(70, 88),
        priors={"upper.color": _colors(0.9, 1.25), "legs.color": _colors(0.8, 1.3),
                "upper.garment": {"t-shirt": 0.6, "shirt": 1.0, "sweater": 1.2, "jacket": 1.8, "coat": 1.5},
                "legs.garment": {"trousers": 4.0, "shorts": 0.2, "skirt": 0.6},
                "head.hat": {"none": 3.0, "cap": 0.6, "beanie": 1.5, "sunhat": 0.05},
                "upper.bag": {"none": 2.0, "backpack": 2.0, "shoulder bag": 1.0, "handbag": 0.6},
                "legs.shoes": {"sneakers": 1.0, "boots": 2.0, "shoes": 1.0}},
    ),
    "domain_C": DomainStyle(
        name="domain_C", role="MSMT17 (indoor+outdoor, 15 cameras, varied and night lighting, low resolution)",
        num_cameras=15,
        scene_kinds=("mall", "corridor", "street", "park", "night", "campus"),
        wall_colors=((200, 190, 170), (120, 130, 150), (90, 100, 90), (160, 150, 130), (70, 66, 80)),
        ground_colors=((180, 170, 160), (100, 100, 104), (140, 130, 110), (60, 60, 64)),
        accent_colors=((250, 200, 120), (120, 200, 255), (255, 160, 60), (200, 220, 200)),
        color_gain=(1.0, 1.0, 1.0), brightness=0.95, contrast=0.95, saturation=0.9, gamma=1.0,
        camera_gain_std=0.07, camera_brightness_std=0.10,
        person_height=(0.74, 0.88), center_jitter=(5.0, 7.0), cutoff_prob=0.12,
        view_probs=(0.33, 0.33, 0.34), occlusion_prob=0.20,
        lowres=(1.1, 1.5), blur=(0.3, 0.7), noise=4.0, jpeg_quality=(65, 85),
        priors={"upper.garment": {"t-shirt": 1.0, "shirt": 1.0, "sweater": 1.0, "jacket": 1.5, "coat": 1.5},
                "legs.garment": {"trousers": 3.0, "shorts": 0.5, "skirt": 0.8}},
    ),
    "domain_D": DomainStyle(
        name="domain_D", role="CUHK03-NP (indoor campus, 2 cameras, close-up, warm light)", num_cameras=2,
        scene_kinds=("corridor", "mall"),
        wall_colors=((214, 204, 180), (180, 176, 170)),
        ground_colors=((160, 120, 90), (130, 130, 136)),
        accent_colors=((240, 220, 160), (200, 200, 210)),
        color_gain=(1.12, 1.0, 0.82), brightness=1.0, contrast=1.1, saturation=0.95, gamma=0.92,
        camera_gain_std=0.10, camera_brightness_std=0.10,
        person_height=(0.90, 0.98), center_jitter=(5.0, 6.0), cutoff_prob=0.25,
        view_probs=(0.45, 0.45, 0.10), occlusion_prob=0.05,
        lowres=(1.3, 1.8), blur=(0.5, 1.0), noise=4.0, jpeg_quality=(60, 75),
        priors={"upper.garment": {"t-shirt": 1.5, "shirt": 1.5, "sweater": 1.0, "jacket": 1.0, "coat": 0.5},
                "upper.bag": {"none": 1.0, "backpack": 2.5, "shoulder bag": 1.5, "handbag": 0.5}},
    ),
}
DOMAINS["domain_E"] = dataclasses.replace(
    DOMAINS["domain_A"], name="domain_E", outfit_change_prob=0.6,
    role="PRCC / LTCC (clothes-changing: domain A's campus, 60 % of a person's other cameras see another outfit)")
DOMAINS["domain_W"] = DomainStyle(
    name="domain_W", role="web pretraining corpus (every image its own scene, light, optics and framing)",
    num_cameras=64, scene_kinds=("campus", "brick", "mall", "street", "park", "corridor", "night"),
    # broad palettes of everyday facades / floors / signage (each plate picks one of each)
    wall_colors=((210, 200, 180), (186, 176, 150), (160, 168, 150), (140, 90, 70), (110, 112, 120),
                 (180, 160, 150), (90, 96, 110), (220, 214, 200), (130, 120, 100), (76, 70, 84)),
    ground_colors=((160, 156, 148), (120, 118, 112), (190, 180, 160), (100, 104, 110), (140, 110, 84),
                   (200, 200, 206), (70, 70, 74)),
    accent_colors=((90, 120, 160), (70, 130, 70), (230, 200, 130), (140, 170, 220), (200, 90, 60),
                   (220, 220, 210), (60, 60, 70)),
    # the per-image look (web.sample_look) replaces every optics / framing field below
    color_gain=(1.0, 1.0, 1.0), brightness=1.0, contrast=1.0, saturation=1.0, gamma=1.0,
    camera_gain_std=0.0, camera_brightness_std=0.0,
    person_height=(0.80, 0.90), center_jitter=(5.0, 6.0), cutoff_prob=0.1,
    view_probs=(1 / 3, 1 / 3, 1 / 3), occlusion_prob=0.1,
    lowres=(1.0, 1.4), blur=(0.0, 0.6), noise=3.0, jpeg_quality=(70, 90),
    web=True,
)
BENCHMARK_DOMAINS: Tuple[str, ...] = ("domain_A", "domain_B", "domain_C", "domain_D", "domain_E")
PRETRAIN_DOMAINS: Tuple[str, ...] = ("domain_W",)
DOMAIN_NAMES: Tuple[str, ...] = tuple(DOMAINS)   # planning order: A-E, then W


def get_domain(name: str) -> DomainStyle:
    if name not in DOMAINS:
        raise KeyError(f"unknown synthetic domain {name!r}; expected one of {', '.join(DOMAINS)}")
    return DOMAINS[name]


def make_cameras(style: DomainStyle, rng: np.random.Generator) -> List[dict]:
    """Per-camera parameters (JSON-serialisable): scene kind and palette, white balance, brightness, view mix."""
    cams = []
    for c in range(style.num_cameras):
        gain = np.asarray(style.color_gain) * np.exp(rng.normal(0, style.camera_gain_std, 3))
        views = np.asarray(style.view_probs) * rng.uniform(0.5, 1.5, 3)
        pick = lambda opts: [int(v) for v in opts[int(rng.integers(len(opts)))]]  # noqa: E731
        cams.append({
            "camid": c + 1,
            "scene": style.scene_kinds[c % len(style.scene_kinds)] if c < len(style.scene_kinds)
            else style.scene_kinds[int(rng.integers(len(style.scene_kinds)))],
            "palette": {"wall": pick(style.wall_colors), "ground": pick(style.ground_colors),
                        "accent": pick(style.accent_colors), "horizon": float(rng.uniform(0.45, 0.7)),
                        "tile": float(rng.uniform(18, 36)), "grout": float(rng.uniform(0.7, 0.92)),
                        "lamp_x": float(rng.uniform(0.1, 0.9))},
            "gain": [float(g) for g in gain],
            "brightness": float(style.brightness * np.exp(rng.normal(0, style.camera_brightness_std))),
            "view_probs": [float(v) for v in views / views.sum()],
            "blur_extra": float(rng.uniform(0, 0.4)),
        })
    return cams
