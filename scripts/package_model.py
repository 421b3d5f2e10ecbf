"""Package a training run's weights as a zoo model: ``models/NAME.pt`` + its ``zoo.json`` entry.

    python scripts/package_model.py runs/enh4 --name wmark-v2 --version 2 --summary "..." [--metrics report.json]
        [--position N] [--models-dir DIR]

The weights file holds only the model config and a float32 state dict (no optimizer);
its full sha256 goes into ``models/zoo.json``, which :mod:`wmark.zoo` reads. ``--metrics``
takes a ``wmark bench --out`` report.json and records its summary figures.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from wmark.zoo import INDEX, load_weights, sha256_of

MODELS = Path(__file__).resolve().parent.parent / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="training run folder (with model.pt)")
    parser.add_argument("--name", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--metrics", type=Path, help="report.json of `wmark bench`")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--mask-trained", action="store_true",
                        help="the run trained through the perceptual mask (a preset with photo_size)")
    parser.add_argument("--position", type=int, default=0,
                        help="place in the zoo (0, the default: the default model; 1: the next one read)")
    parser.add_argument("--models-dir", type=Path, default=MODELS,
                        help="folder of the weights and zoo.json (default: models/; another one to try a"
                             " candidate with WMARK_MODELS_DIR=DIR)")
    args = parser.parse_args()
    models = args.models_dir

    saved = torch.load(args.run / "model.pt", map_location="cpu", weights_only=True)
    state = {key: value.float() if value.is_floating_point() else value for key, value in saved["state_dict"].items()}
    models.mkdir(parents=True, exist_ok=True)
    target = models / f"{args.name}.pt"
    temporary = target.with_suffix(".pt.tmp")
    torch.save({"config": saved["config"], "state_dict": state}, temporary)
    os.replace(temporary, target)
    digest = sha256_of(target)
    model = load_weights(target, digest)  # refuses anything that does not load strictly

    metrics = {}
    if args.metrics:
        report = json.loads(args.metrics.read_text())
        system = next(item for item in report["summary"] if not item["peer"])
        attacks = system["attacks"]
        metrics = {"psnr_mean": round(system["psnr_mean"], 2),
                   **{key: round(system[key], 2) for key in ("ssimulacra2_mean", "ssimulacra2_min") if key in system},
                   "bit_accuracy_clean": round(attacks["none"]["accuracy"], 4),
                   "bit_accuracy_jpeg75": round(attacks["jpeg75"]["accuracy"], 4),
                   "bit_accuracy_mean": round(system["mean"]["accuracy"], 4),
                   "bit_accuracy_worst": round(min(a["accuracy"] for a in attacks.values()), 4),
                   "message_recovery_mean": round(system["mean"]["recovered"], 4)}
    index_path = models / INDEX
    if not index_path.exists() and (MODELS / INDEX).exists():  # a candidate folder starts from the zoo
        index_path.write_text((MODELS / INDEX).read_text())
    index = json.loads(index_path.read_text()) if index_path.exists() else {"models": []}
    entry = {"name": args.name, "version": args.version, "file": target.name, "sha256": digest,
             "bits": model.cfg.bits, "size": model.cfg.size, "summary": args.summary, "metrics": metrics,
             "mask_trained": args.mask_trained}
    index["models"] = [e for e in index["models"] if e["name"] != args.name]
    index["models"].insert(args.position, entry)  # the first entry is the default model
    index_path.write_text(json.dumps(index, indent=2) + "\n")
    print(f"{target} sha256 {digest}")


if __name__ == "__main__":
    main()
