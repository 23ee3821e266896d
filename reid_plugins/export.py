"""Export a trained model's inference path to ONNX and check it against PyTorch with onnxruntime.

    python -m reid_plugins.export --config-file configs/MUVA/Synth/MUVA_tiny_A.yml \\
        MODEL.WEIGHTS logs/synth/muva_tiny_A/model_final.pth --out exported/muva

Writes DIR/image_encoder.onnx (every supported model), DIR/text_encoder.onnx (BDAMT2I) and DIR/export.json (inputs,
preprocessing, the parity check). Needs the [export] extra (onnx, onnxruntime, onnxscript). Fails, keeping the files,
when onnxruntime's features differ from PyTorch's by more than 1e-4.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .inference.cli import add_model_arguments, run, set_threads, split_weights


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reid_plugins.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    weights, opts = split_weights(args.opts)
    from .inference.model import check_supported, load_model
    from .projects import config_meta_architecture

    check_supported(config_meta_architecture(args.config_file, opts))  # an unsupported config fails before loading
    try:
        from .inference.onnx_export import export_onnx
    except ImportError as e:
        raise ImportError(f"ONNX export needs onnx, onnxruntime and onnxscript: pip install -e '.[export]' ({e})") \
            from e
    set_threads(args.threads)
    written = export_onnx(load_model(args.config_file, weights, opts), args.out)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
