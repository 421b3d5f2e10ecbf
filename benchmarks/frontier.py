"""The quality × robustness frontier: each model's encoder mark through the perceptual
mask at a range of strengths, scored on both axes on the held-out split.

    python benchmarks/frontier.py                         # packaged models, default strengths
    python benchmarks/frontier.py --models wmark-v3,training/v5/model.pt --strengths 1,2 --limit 8
    python benchmarks/frontier.py --merge a.json b.json    # one table and plot from earlier runs

For every (model, strength): ``wmark.bench.run_benchmark`` on the 33 held-out eval photos
(benchmarks/heldout.txt, found in ../shared/data/eval; never trained or tuned on),
centre-cropped to 512², the 15 reference attacks, seed 0, ``--method encoder`` (the
mark itself, no ISMark fallback), raw bits (messages: ``benchmarks/heldout.sh``).
Quality is SSIMULACRA 2 (mean, worst photo), FLIP and PSNR of the marked photo at 512²;
robustness is the mean and the worst of the 15 columns' bit accuracy. Writes docs/quality-frontier.md (the table, the command, the date),
docs/quality/frontier.png (the plot) and benchmarks/results/frontier-DATE.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_MODELS = "wmark-v3,wmark-v4-wide"
DEFAULT_STRENGTHS = "0.5,1,1.5,2,3"


def eval_photos(data: Path, split: str = "heldout") -> list[Path]:
    """The eval folder's held-out photos in the listing's order (``heldout``), or the others
    (``tune``: training's validation photos, where settings such as ``mask.GAIN`` are chosen)."""
    listing = (ROOT / "benchmarks" / "heldout.txt").read_text().splitlines()
    names = [line.split("#")[0].strip() for line in listing]
    held = [data / "eval" / name for name in names if name and (data / "eval" / name).is_file()]
    if split == "heldout":
        return held
    return [path for path in sorted((data / "eval").iterdir()) if path not in held]


def load(model: str) -> tuple[Any, str]:
    """A packaged model by name, or a weights file (``model.pt`` of a training run)."""
    if model.endswith(".pt"):
        from wmark.zoo import load_weights

        return load_weights(Path(model)), Path(model).parent.name + "/" + Path(model).name
    return model, model


def point(model: str, strength: float, photos: list[Path]) -> dict[str, Any]:
    """One point of the frontier: quality and robustness of ``model`` at ``strength``."""
    from wmark.bench import run_benchmark

    net, label = load(model)
    report = run_benchmark(photos, attacks="reference", method="encoder", model=net, strength=strength,
                           size=512, seed=0, message_mode="bits", quality=True)
    summary = report.summary()[0]
    columns = summary["attacks"]
    bits = {name: row.get("accuracy") for name, row in columns.items() if row.get("accuracy") is not None}
    worst_bits = min(bits, key=bits.get)
    return {"model": label, "strength": strength, "photos": summary["images"],
            "psnr": summary["psnr_mean"], "ssimulacra2_mean": summary.get("ssimulacra2_mean"),
            "ssimulacra2_min": summary.get("ssimulacra2_min"), "flip_mean": summary.get("flip_mean"),
            "bits_mean": sum(bits.values()) / len(bits), "bits_worst": bits[worst_bits], "bits_worst_column": worst_bits,
            "columns": bits}


def markdown(points: list[dict[str, Any]], command: str) -> str:
    lines = ["# Quality × robustness frontier", "",
             f"Measured {dt.date.today().isoformat()} with `{command}` (held-out eval photos at 512², "
             "encoder alone through the perceptual mask, 15 reference attacks, raw bits, seed 0). Targets: "
             "SSIMULACRA 2 ≥ 75 mean and ≥ 60 worst; ≥ 99 % bits in every column.", "",
             "| model | strength | photos | PSNR dB | SSIMULACRA 2 mean | worst | FLIP mean | bits mean | worst column |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for p in points:
        lines.append(f"| {p['model']} | {p['strength']:g} | {p['photos']} | {p['psnr']:.1f} "
                     f"| {p['ssimulacra2_mean']:.1f} | {p['ssimulacra2_min']:.1f} | {p['flip_mean']:.3f} "
                     f"| {100 * p['bits_mean']:.1f} % | {p['bits_worst_column']} {100 * p['bits_worst']:.1f} % |")
    return "\n".join(lines) + "\n"


def plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for model in dict.fromkeys(p["model"] for p in points):
        mine = [p for p in points if p["model"] == model]
        axis.plot([p["ssimulacra2_mean"] for p in mine], [100 * p["bits_worst"] for p in mine], "o-", label=model)
        for p in mine:
            axis.annotate(f"{p['strength']:g}", (p["ssimulacra2_mean"], 100 * p["bits_worst"]), fontsize=7,
                          textcoords="offset points", xytext=(3, 3))
    axis.axvline(75, color="grey", linestyle=":")
    axis.axhline(99, color="grey", linestyle=":")
    axis.set_xlabel("SSIMULACRA 2, mean (higher: less visible)")
    axis.set_ylabel("bit accuracy, worst of 15 columns (%)")
    axis.set_title("Quality × robustness (labels: strength)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated names or weights files")
    parser.add_argument("--strengths", default=DEFAULT_STRENGTHS)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--split", choices=("heldout", "tune"), default="heldout",
                        help="held-out eval photos (results), or the others (choosing settings)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N photos")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "quality-frontier.md")
    parser.add_argument("--json", type=Path, help="write the points here (default benchmarks/results/)")
    parser.add_argument("--merge", type=Path, nargs="+", help="measure nothing: the points of these --json files")
    args = parser.parse_args()
    photos = eval_photos(args.data, args.split)[:args.limit]
    points = []
    commands = []
    for earlier in args.merge or []:
        data = json.loads(earlier.read_text())
        points += data["points"]
        commands.append(data["command"])
    for model in [] if args.merge else args.models.split(","):
        for strength in (float(s) for s in args.strengths.split(",")):
            points.append(point(model, strength, photos))
            p = points[-1]
            print(f"{p['model']} x{strength:g}: {p['psnr']:.1f} dB, SSIMULACRA 2 {p['ssimulacra2_mean']:.1f} "
                  f"(worst {p['ssimulacra2_min']:.1f}), bits {100 * p['bits_mean']:.1f} % "
                  f"(worst {p['bits_worst_column']} {100 * p['bits_worst']:.1f} %)", flush=True)
    command = " and ".join(commands) or ("python benchmarks/frontier.py " + " ".join(sys.argv[1:])).strip()
    args.out.write_text(markdown(points, command))
    picture = args.out.parent / "quality" / "frontier.png"
    picture.parent.mkdir(exist_ok=True)
    plot(points, picture)
    print(f"wrote {args.out}, {picture}")
    if not args.merge:
        results = args.json or ROOT / "benchmarks" / "results" / f"frontier-{dt.date.today().isoformat()}.json"
        results.write_text(json.dumps({"command": command, "points": points}, indent=1))
        print(f"wrote {results}")


if __name__ == "__main__":
    main()
