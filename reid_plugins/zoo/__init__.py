"""The stand-in model zoo: checkpoints trained on SynthPed-W only, one per pretrained model the papers and fast-reid's
baselines start from (OpenAI CLIP ViT-B/16, vit-base-patch16-224, ImageNet OSNet), since none can be downloaded.

    python -m reid_plugins.zoo list [--json] | build [--only NAME ...] | verify [--only NAME ...] [--no-replay]

    from reid_plugins import zoo
    zoo.entry_path("clip-tiny-w")    # verified path of a checkpoint (ZooError when missing / altered / stale)
    zoo.listing()                    # what `list --json` prints

Configs name a checkpoint as "zoo:<name>" (e.g. MODEL.BACKBONE.PRETRAIN_PATH zoo:clip-tiny-w); reid_plugins.config
resolves it to the verified path and checks that the config builds the entry's architecture.
"""
from .builder import build, listing, verify
from .entries import ENTRIES, ZooEntry, get_entry
from .store import PREFIX, ZooError, entry_path, rebuild_command, resolve_config, zoo_dir

__all__ = ["ENTRIES", "ZooEntry", "get_entry", "build", "verify", "listing", "entry_path", "resolve_config",
           "rebuild_command", "zoo_dir", "ZooError", "PREFIX"]
