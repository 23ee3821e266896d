"""SynthPed-W, the web-like pretraining corpus: the distributions its images and identities are drawn from.

A benchmark domain (A-E) fixes one look for all its images (a DomainStyle plus per-camera white balance). Web images
come from countless cameras, so in domain W *every image* draws its own look, and every family of identities its
own clothing priors. The ranges bracket domains A-D (see docs/SYNTHETIC.md for the table side by side) without
reusing any one domain's parameter set:

    look field              W draws, per image                     A-D span
    colour gain (R, G, B)   exp(N(0, 0.09)) per channel            0.82-1.12
    brightness              U(0.82, 1.12)                          0.93-1.05 (x camera exp(N(0, 0.07-0.10)))
    contrast                U(0.85, 1.15)                          0.93-1.10
    saturation              U(0.78, 1.10)                          0.88-1.05
    gamma                   U(0.88, 1.08)                          0.92-1.05
    person height           lo ~ U(0.72, 0.90), hi = lo + 0.10     0.74-0.98
    detector jitter (x, y)  U(3, 7), U(4, 8) px                    4-7, 5-7
    cut-off probability     U(0, 0.25)                             0.04-0.25
    occlusion probability   U(0, 0.25)                             0.05-0.20
    view mix                Dirichlet(2, 2, 2)                     per domain
    resolution loss         (1, U(1.0, 1.9))                       (1.0-1.3, 1.3-1.8)
    blur radius             (0, U(0.2, 1.1)) px                    (0-0.5, 0.5-1.0)
    noise sigma             one of 2, 3, 4, 5                      3-4
    JPEG quality            lo ~ U(58, 88), hi = lo + 10           60-95
    scene                   one of 64 plates over all 7 kinds      2-6 kinds per domain

Clothing priors per family: a warmth w ~ U(0, 1) (summer -> winter) and a brightness b ~ U(0, 1) for each of the
upper and lower garments set the weights below (domains A and B sit near the two ends; C and D in between).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

import numpy as np

from .attributes import BRIGHT, COLORS, DARK
from .domains import DomainStyle

NOISE_LEVELS = (2.0, 3.0, 4.0, 5.0)   # a few levels: each sigma has its own cached noise field (render._noise_bank)


def sample_look(style: DomainStyle, camera: dict, rng: np.random.Generator) -> Tuple[DomainStyle, dict]:
    """The look of one web image: `style` and `camera` (a scene plate of domain W) with every optics / framing field
    drawn from the ranges in the module docstring."""
    lo_h = float(rng.uniform(0.72, 0.90))
    lo_q = int(rng.uniform(58, 88))
    look = dataclasses.replace(
        style,
        contrast=float(rng.uniform(0.85, 1.15)), saturation=float(rng.uniform(0.78, 1.10)),
        gamma=float(rng.uniform(0.88, 1.08)),
        person_height=(lo_h, min(0.99, lo_h + 0.10)),
        center_jitter=(float(rng.uniform(3, 7)), float(rng.uniform(4, 8))),
        cutoff_prob=float(rng.uniform(0, 0.25)), occlusion_prob=float(rng.uniform(0, 0.25)),
        lowres=(1.0, float(rng.uniform(1.0, 1.9))), blur=(0.0, float(rng.uniform(0.2, 1.1))),
        noise=NOISE_LEVELS[int(rng.integers(len(NOISE_LEVELS)))], jpeg_quality=(lo_q, lo_q + 10),
    )
    cam = dict(camera)
    cam["gain"] = [float(g) for g in np.exp(rng.normal(0, 0.09, 3))]
    cam["brightness"] = float(rng.uniform(0.82, 1.12))
    cam["view_probs"] = [float(v) for v in rng.dirichlet((2.0, 2.0, 2.0))]
    cam["blur_extra"] = float(rng.uniform(0, 0.4))
    return look, cam


def _color_weights(bright: float) -> Dict[str, float]:
    """Colour weights: bright colours x (0.6 + 1.2 b), dark ones x (0.6 + 1.2 (1 - b)), beige 1."""
    w = {c: 1.0 for c in COLORS}
    w.update({c: 0.6 + 1.2 * bright for c in BRIGHT})
    w.update({c: 0.6 + 1.2 * (1 - bright) for c in DARK})
    return w


def sample_clothing_priors(rng: np.random.Generator) -> Dict[str, Dict[str, float]]:
    """Attribute priors of one family of web identities ({"group.attr": {value: weight}}, sample_identity's form)."""
    warm, b_up, b_low, bag = (float(x) for x in rng.uniform(0, 1, 4))
    summer = 1 - warm
    return {
        "upper.color": _color_weights(b_up), "legs.color": _color_weights(b_low),
        "upper.garment": {"t-shirt": 0.3 + 2.7 * summer, "shirt": 1.0 + 0.8 * summer, "sweater": 0.3 + 1.2 * warm,
                          "jacket": 0.3 + 1.7 * warm, "coat": 0.1 + 1.6 * warm},
        "legs.garment": {"trousers": 1.2 + 2.8 * warm, "shorts": 0.1 + 1.7 * summer, "skirt": 0.7},
        "upper.sleeves": {"short": 0.4 + 1.8 * summer, "long": 0.6 + 1.2 * warm},
        "head.hat": {"none": 3.5, "cap": 0.3 + 0.9 * summer, "beanie": 0.05 + 1.4 * warm,
                     "sunhat": 0.05 + 0.6 * summer},
        "upper.bag": {"none": 1.0 + 1.5 * (1 - bag), "backpack": 0.4 + 2.0 * bag, "shoulder bag": 0.5 + bag,
                      "handbag": 0.6},
        "legs.shoes": {"sneakers": 0.6 + 2.2 * summer, "boots": 0.2 + 1.8 * warm, "shoes": 1.0},
    }
