#!/usr/bin/env python
"""How close a trained MUVA's part masks are to the true parts, on the synthetic benchmark (which knows them).

    python projects/MUVA/tools/mask_iou.py --config-file configs/MUVA/Synth/MUVA_tiny_A.yml \\
        MODEL.WEIGHTS <OUTPUT_DIR>/model_final.pth [--max-images 600] [--json] [KEY VALUE ...]

Per test set of DATASETS.TESTS and per part, the mean IoU on the patch grid between the clean oracle mask (parts.json
voted onto the grid as MODEL.MASKS votes, the same rule as the pseudo-masks) and:
- `predicted`: the last layer's gated mask, probability > MODEL.MUVA.RMP.GATE_THRESH, what AM-MSA attends with
  (Eq. 6; a model with MODEL.MUVA.ATTENTION_MASKS fixed-stripes has none);
- `stripes`: the fixed equal stripes of the "stripe-like" ablation (paper Table 8);
- `pseudo`: the training pseudo-masks of MODEL.MASKS.BACKEND (oracle-noisy: injected errors, calibrated).
Images whose part is hidden (no box) are left out of that part's mean. The images are the first --max-images of
query + gallery, in the test loader's order.
"""
from __future__ import annotations

import argparse
import json
from typing import Dict

import reid_plugins  # noqa: F401  (compat patches first; the `muva` project package importable)


def mean_part_iou(masks, reference, present) -> Dict[str, float]:
    """bool [N, 3, G] against bool [N, 3, G]; mean over the images where `present` [N, 3] is true, per part."""
    import numpy as np

    from reid_plugins.grounding.evaluate import mask_iou
    from reid_plugins.grounding.parts import PARTS

    iou = mask_iou(np.asarray(masks, dtype=bool), np.asarray(reference, dtype=bool))
    return {p: float(iou[:, i][present[:, i]].mean()) if present[:, i].any() else float("nan")
            for i, p in enumerate(PARTS)}


def dataset_mask_iou(cfg, model, dataset_name: str, max_images: int) -> Dict[str, Dict[str, float]]:
    import numpy as np
    import torch

    from muva.ammsa import stripe_part_masks
    from muva.data import build_test_set
    from reid_plugins.grounding.provider import PartMaskProvider

    test_set, _ = build_test_set(cfg, dataset_name)
    n = min(max_images, len(test_set))
    items = [test_set[i] for i in range(n)]
    paths = [it["img_paths"] for it in items]
    pseudo_provider = PartMaskProvider.from_config(cfg, [dataset_name])
    clean_cfg = cfg.clone()
    clean_cfg.defrost()
    clean_cfg.MODEL.MASKS.BACKEND = "oracle"
    clean_provider = PartMaskProvider.from_config(clean_cfg, [dataset_name])
    clean = clean_provider.masks(paths)
    present = np.stack([~np.isnan(clean_provider.explain(p)["raw_boxes"]).any(-1) for p in paths])
    out = {"pseudo": mean_part_iou(pseudo_provider.masks(paths), clean, present),
           "stripes": mean_part_iou(np.broadcast_to(stripe_part_masks(model.backbone.grid).numpy(), clean.shape),
                                    clean, present)}
    if getattr(model.backbone, "mask_predictor", None) is not None:
        model.eval()
        predicted = []
        for start in range(0, n, cfg.TEST.IMS_PER_BATCH):
            batch = torch.stack([it["images"] for it in items[start:start + cfg.TEST.IMS_PER_BATCH]])
            with torch.no_grad():
                probs = model.features(model.preprocess_image(batch))["mask_probs"][-1]
            predicted.append((probs > cfg.MODEL.MUVA.RMP.GATE_THRESH).cpu().numpy())
        full = np.zeros_like(clean)
        full[:, model.backbone.part_index] = np.concatenate(predicted)
        out["predicted"] = mean_part_iou(full, clean, present)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--max-images", type=int, default=600)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    from muva import MUVATrainer, add_muva_config
    from reid_plugins.config import build_cfg
    from reid_plugins.engine.guards import check_eval_weights

    cfg = build_cfg(args.config_file, args.opts, (add_muva_config,))
    check_eval_weights(cfg.MODEL.WEIGHTS)
    model = MUVATrainer.load_for_eval(cfg)
    results = {name: dataset_mask_iou(cfg, model, name, args.max_images) for name in cfg.DATASETS.TESTS}
    if args.json:
        print(json.dumps(results))
    else:
        print("mean IoU with the true part masks on the patch grid (head / upper / legs):")
        for name, r in results.items():
            for source, iou in r.items():
                print(f"  {name:12s} {source:9s} " + "  ".join(f"{p} {v:.3f}" for p, v in iou.items()))
    return results


if __name__ == "__main__":
    main()
