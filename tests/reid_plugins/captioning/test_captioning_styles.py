"""`cluster` end to end on the synthetic benchmark's captions.json (tiny preset, domain_A; every caption carries its
known style label): MiniLM + DBSCAN with the default EPS / MIN_SAMPLES recovers the styles (adjusted Rand index
>= 0.8; measured 1.000)."""
import json
import os

import numpy as np

from reid_plugins.captioning.cli import main
from reid_plugins.captioning.style_bank import StyleBank
from reid_plugins.data.synthetic import STYLES, ensure_generated, synth_dir


def test_cluster_recovers_the_synthetic_caption_styles(tmp_path, capsys):
    ensure_generated(str(tmp_path), preset="tiny", domains=["domain_A"], workers=1, progress=False, preview=False)
    ann = os.path.join(synth_dir(str(tmp_path)), "domain_A", "captions.json")
    entries = [e for e in json.load(open(ann)) if e["split"] == "train"]  # the default STYLE.SPLITS
    n = sum(len(e["captions"]) for e in entries)
    assert n >= 50 and all(len(e["styles"]) == len(e["captions"]) for e in entries)
    out = str(tmp_path / "styles")
    assert main(["cluster", "--annotations", ann, "--out-dir", out, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    report = json.load(open(os.path.join(out, "style_report.json")))
    print(f"\n{n} captions: ARI vs known styles {report['ari_vs_known_styles']:.3f}; sizes {report['sizes']}")
    assert report["captions"] == n and report["known_styles"] == len(STYLES) == 5
    assert report["ari_vs_known_styles"] >= 0.8
    assert report["num_clusters"] == 5 and sum(report["sizes"]) == n
    assert f"{n} captions -> 5 style clusters" in printed
    assert f"adjusted Rand index vs the 5 known style labels: {report['ari_vs_known_styles']:.3f}" in printed
    # Every train caption is assigned, in file order.
    assert len(report["assignments"]) == n and report["assignments"][0][:2] == [entries[0]["file_path"], 0]
    bank = StyleBank.load(os.path.join(out, "style_bank.json"))
    all_caps = {c for e in entries for c in e["captions"]}
    assert bank.sizes == report["sizes"]
    assert all(ex in all_caps for c in bank.clusters for ex in c["exemplars"])
    # Each bank cluster is (nearly) one style: its exemplars' known labels agree.
    style_of = {c: s for e in entries for c, s in zip(e["captions"], e["styles"])}
    purity = [max(np.unique([style_of[x] for x in c["exemplars"]], return_counts=True)[1]) / len(c["exemplars"])
              for c in bank.clusters]
    assert min(purity) >= 0.9
    with open(os.path.join(out, "style_map.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_only_the_configured_splits_are_clustered(tmp_path, capsys):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps([{"split": "test", "file_path": "a.jpg", "id": 1, "captions": ["A man."]}]))
    assert main(["cluster", "--annotations", str(ann), "--out-dir", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "no captions in the splits ['train']" in capsys.readouterr().err
