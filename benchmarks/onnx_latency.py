#!/usr/bin/env python
"""CPU latency of the exported ONNX encoders (onnxruntime) against PyTorch, side by side in one process.

    .venv/bin/python benchmarks/onnx_latency.py [--models muva,bdam,bdam-base] [--batches 1,16] [--repeats 10]

Models (random weights: latency does not depend on them; each is saved as a checkpoint, loaded with
reid_plugins.inference.load_model and exported with reid_plugins.inference.onnx_export, whose parity check must pass):
  muva       configs/MUVA/MA_to_MS.yml: CLIP ViT-B/16 with 3 part tokens and AM-MSA, 256x128 (the paper's model)
  bdam       configs/BDAM_T2I/Synth-T2I.yml: the embedded tiny ViT (128x64) and MiniLM-L6 text encoder
  bdam-base  configs/BDAM_T2I/CUHK-PEDES.yml with random-init ViT-B/16 (224x224) and BERT-base sizes
For each encoder and batch size: median wall time of `repeats` calls after 2 warm-ups, PyTorch (ReidModel.embed_batch /
embed_texts' encoder, torch.no_grad) and onnxruntime (CPUExecutionProvider) alternating, both with --threads threads.
"""
import argparse
import os
import statistics
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = {
    "muva": (os.path.join(ROOT, "configs", "MUVA", "MA_to_MS.yml"), []),
    "bdam": (os.path.join(ROOT, "configs", "BDAM_T2I", "Synth-T2I.yml"), []),
    "bdam-base": (os.path.join(ROOT, "configs", "BDAM_T2I", "CUHK-PEDES.yml"),
                  ["MODEL.BDAM.IMAGE.PRETRAINED_DIR", "", "MODEL.BDAM.TEXT.PRETRAINED_DIR", ""]),
}


def random_checkpoint(config_file, opts, out_dir):
    import torch
    from fastreid.modeling import build_model

    from reid_plugins.config import build_cfg
    from reid_plugins.engine.checkpoint import PluginCheckpointer
    from reid_plugins.projects import config_adders

    cfg = build_cfg(config_file, opts + ["MODEL.HEADS.NUM_CLASSES", "100", "MODEL.BACKBONE.PRETRAIN", "False"],
                    config_adders(config_file, opts))
    torch.manual_seed(0)
    PluginCheckpointer(build_model(cfg), out_dir).save("model")
    return os.path.join(out_dir, "model.pth")


def median_seconds(fn, repeats):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(name, batches, repeats, threads):
    import onnxruntime as ort
    import torch

    from reid_plugins.inference import load_model
    from reid_plugins.inference.onnx_export import ImageEncoder, TextEncoder, _without_text_cache, export_onnx

    config_file, opts = MODELS[name]
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"onnx_latency_{name}_") as tmp:
        model = load_model(config_file, random_checkpoint(config_file, opts, tmp), opts)
        start = time.perf_counter()
        written = export_onnx(model, os.path.join(tmp, "onnx"))
        print(f"{name}: exported in {time.perf_counter() - start:.0f} s", flush=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        encoders = [("image", ImageEncoder(model), written["image_encoder"],
                     lambda b: {"images": (torch.rand(b, 3, *model.image_size) * 255)})]
        if model.has_text:
            tokenizer = model.support.tokenizer(model.cfg)
            text = "a young woman in a long red coat, black trousers and white shoes, carrying a shoulder bag"

            def text_inputs(b):
                ids, mask = tokenizer([text] * b)
                return {"input_ids": ids, "attention_mask": mask}

            encoders.append(("text", TextEncoder(model), written["text_encoder"], text_inputs))
        with _without_text_cache(model.model), torch.no_grad():
            for kind, module, path, make in encoders:
                session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                for b in batches:
                    inputs = make(b)
                    numpy_inputs = {k: v.numpy() for k, v in inputs.items()}
                    t_torch = median_seconds(lambda: module(*inputs.values()), repeats)
                    t_ort = median_seconds(lambda: session.run(None, numpy_inputs), repeats)
                    rows.append((name, kind, b, t_torch, t_ort))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="muva,bdam,bdam-base")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    import reid_plugins  # noqa: F401

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs; {args.threads} threads", flush=True)
    rows = []
    for name in args.models.split(","):
        rows += bench(name, batches, args.repeats, args.threads)
    print(f"\n{'model':<11}{'encoder':<8}{'batch':>6}{'PyTorch ms':>12}{'ONNX Runtime ms':>17}{'PyTorch / ORT':>15}")
    for name, kind, b, t_torch, t_ort in rows:
        print(f"{name:<11}{kind:<8}{b:>6}{t_torch * 1e3:12.1f}{t_ort * 1e3:17.1f}{t_torch / t_ort:15.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
