"""The report of ``wmark bench``: per-system summaries, report.json/csv/md, robustness.png,
and the journal of per-photo records that makes a run resumable.

:class:`BenchReport` holds the settings and, per system (wmark's methods, the peers),
every per-photo record :mod:`wmark.bench` measured; the tables, the CSV and the chart
are computed from those records only. The chart needs matplotlib (the ``plot`` extra);
without it the other files are written and a note says why the chart is missing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import OutputError

METRICS = ("accuracy", "accuracy_no_search", "accuracy_best", "verified", "recovered", "accuracy_message")
# Per-photo scores of the marked photo: (key, the summary's worst, its key); higher is better but for FLIP.
QUALITY = (("psnr", min, "psnr_min"), ("ssim", min, "ssim_min"), ("ssimulacra2", min, "ssimulacra2_min"),
           ("flip", max, "flip_max"))
PERCEPTUAL = ("ssimulacra2_mean", "ssimulacra2_min", "flip_mean", "flip_max")  # only when measured
CHART = "robustness.png"
BAR = 0.99  # DESIGN.md's bar: 99 % bit accuracy on every column


def _mean(values: Iterable[Any]) -> float | None:
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(kept) / len(kept) if kept else None


def _ratio(seconds: Iterable[Any], megapixels: Iterable[Any]) -> float | None:
    """Seconds per megapixel over the photos that have both numbers."""
    pairs = [(s, m) for s, m in zip(seconds, megapixels) if s is not None and m]
    return sum(s for s, _ in pairs) / sum(m for _, m in pairs) if pairs else None


def _table(heads: list[str], attacks: list[str], cells: list[Any]) -> list[str]:
    """Markdown rows: one per attack, then the mean and the worst column; ``cells`` holds
    (summary, metrics) per column, the first metric present is shown, in %."""
    def value(row: dict[str, Any], metrics: Sequence[str]) -> float | None:
        return next((row[m] for m in metrics if row.get(m) is not None), None)

    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    lines = ["| attack | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(heads)]
    for attack in attacks:
        lines.append(f"| `{attack}` | " + " | ".join(pct(value(x["attacks"][attack], m)) for x, m in cells) + " |")
    worst = [min((v for a in attacks if (v := value(x["attacks"][a], m)) is not None), default=None)
             for x, m in cells]
    lines.append("| **mean** | " + " | ".join(pct(value(x["mean"], m)) for x, m in cells) + " |")
    return lines + ["| **worst** | " + " | ".join(map(pct, worst)) + " |"]


@dataclass
class SystemResult:
    """One watermarking system (``wmark encoder``, a peer) and its per-photo records."""

    name: str
    bits: int
    peer: bool = False
    images: list[dict[str, Any]] = field(default_factory=list)

    def column(self, attack: str, metric: str) -> float | None:
        """Mean of ``metric`` over the photos for ``attack`` (None when not measured)."""
        return _mean(image["attacks"].get(attack, {}).get(metric) for image in self.images)

    def summary(self, attacks: Sequence[str]) -> dict[str, Any]:
        """Every column's means; PSNR, SSIM (mean, min), SSIMULACRA 2 (mean, min) and FLIP (mean,
        max; these two only when measured: old journals and ``quality=False`` have none); time
        per photo and per megapixel, and the clean photos that decoded or verified."""
        table = {a: {m: self.column(a, m) for m in METRICS} for a in attacks}
        table = {a: {m: v for m, v in row.items() if v is not None} for a, row in table.items()}
        means = {m: _mean(row.get(m) for row in table.values()) for m in METRICS}
        get = lambda key: [image.get(key) for image in self.images]  # noqa: E731
        scores: dict[str, Any] = {}
        for key, worst, worst_key in QUALITY:
            values = [v for v in get(key) if v is not None]
            scores.update({f"{key}_mean": _mean(values), worst_key: worst(values) if values else None})
        scores = {k: v for k, v in scores.items() if v is not None or k not in PERCEPTUAL}
        return {
            "name": self.name, "bits": self.bits, "peer": self.peer, "images": len(self.images), **scores,
            "embed_s": _mean(get("embed_s")), "extract_s": _mean(get("extract_s")),
            "embed_s_per_mp": _ratio(get("embed_s"), get("megapixels")),
            "extract_s_per_mp": _ratio(get("extract_s"), get("extract_megapixels")),
            "clean_found": sum(bool(image.get("clean_found")) for image in self.images),
            "clean_verified": sum(bool(image.get("clean_verified")) for image in self.images),
            "attacks": table, "mean": {m: v for m, v in means.items() if v is not None},
        }


@dataclass
class BenchReport:
    """Settings, the systems measured, and their per-photo numbers; JSON, CSV, Markdown and a chart."""

    settings: dict[str, Any]
    systems: list[SystemResult]
    skipped: list[dict[str, str]] = field(default_factory=list)  # photos or peers that could not run

    @property
    def attacks(self) -> list[str]:
        return list(self.settings["attacks"])

    def summary(self) -> list[dict[str, Any]]:
        return [system.summary(self.attacks) for system in self.systems]

    def to_json(self) -> str:
        data = {"settings": self.settings, "summary": self.summary(), "skipped": self.skipped,
                "images": {s.name: s.images for s in self.systems}}
        return json.dumps(data, indent=1, ensure_ascii=False, default=str)

    def to_csv(self) -> str:
        """One row per system and column (and a ``mean`` row per system); fractions in [0, 1]."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        extra = ("psnr_mean", "psnr_min", "ssim_mean", "ssim_min", *PERCEPTUAL)  # empty when not measured
        writer.writerow(["system", "bits", "attack", "images", *METRICS, *extra])
        for summary in self.summary():
            rows = [*summary["attacks"].items(), ("mean", summary["mean"])]
            for attack, row in rows:
                writer.writerow([summary["name"], summary["bits"], attack, summary["images"],
                                 *("" if row.get(m) is None else f"{row[m]:.6f}" for m in METRICS),
                                 *("" if summary.get(k) is None else f"{summary[k]:.{6 if 'flip' in k else 4}f}"
                                   for k in extra)])
        return out.getvalue()

    def to_markdown(self) -> str:
        """The tables of the report: bit accuracy per attack per system, wmark's message
        recovery and search figures, image quality (PSNR, SSIM, SSIMULACRA 2 and FLIP when
        measured), time and false positives."""
        s, summaries = self.settings, self.summary()
        ours = [x for x in summaries if not x["peer"]]
        size = f"{s['size']}x{s['size']}" if s["size"] else "native size"
        photos = f"{s['images']} photo" + ("s" if s["images"] != 1 else "")
        resumed = f" ({s['resumed']} of them from an earlier run)" if s.get("resumed") else ""
        lines = [f"`{s['command']}`: {photos}{resumed}, {size}, model `{s['model']}`, seed {s['seed']}, "
                 f"{s['date'][:10]}, {s['device']}.", "",
                 "Bit accuracy (%) of random raw bits, read on the most confident alignment (of the photo as it "
                 "is and the sync grid: what a reader without the bits can pick; peers read the photo as it is):"
                 if s["message_mode"] != "text" else
                 "Bit accuracy (%) of the message's bits on the alignment extract chose:", ""]
        lines += _table([f"{x['name']} ({x['bits']} bits)" for x in summaries], self.attacks,
                        [[x, ("accuracy", "accuracy_message")] for x in summaries])
        if ours:
            lines += ["", "wmark (%): `message` = exact Reed-Solomon message recovery, `verify` = raw bits verified "
                      "at FPR 1e-6, bit accuracy on `extract's row` (the message's bits, on the alignment extract "
                      "chose), with `no search` (the photo as it is) and on the `best row` (an upper bound: "
                      "choosing it needs the bits):", ""]
            heads = {"recovered": "message", "verified": "verify", "accuracy_message": "extract's row",
                     "accuracy_no_search": "no search", "accuracy_best": "best row"}
            lines += _table([f"{x['name']}: {h}" for x in ours for h in heads.values()], self.attacks,
                            [[x, (m,)] for x in ours for m in heads])
        num = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        quality = {"psnr_mean": ("PSNR mean (dB)", ".2f"), "psnr_min": ("PSNR min (dB)", ".2f"),
                   "ssim_mean": ("SSIM mean", ".4f"), "ssim_min": ("SSIM min", ".4f")}
        perceptual = any(k in x for x in summaries for k in PERCEPTUAL)
        if perceptual:
            quality.update({"ssimulacra2_mean": ("SSIMULACRA 2 mean", ".2f"),
                            "ssimulacra2_min": ("SSIMULACRA 2 worst", ".2f"),
                            "flip_mean": ("FLIP mean", ".4f"), "flip_max": ("FLIP worst", ".4f")})
        lines += ["", "| system | bits | " + " | ".join(head for head, _ in quality.values()) + " |",
                  "| --- |" + " ---: |" * (1 + len(quality))]
        lines += [f"| {x['name']} | {x['bits']} | " + " | ".join(num(x.get(k), f) for k, (_, f) in quality.items())
                  + " |" for x in summaries]
        lines += ["", "| system | embed (s/photo) | embed (s/MP) | extract (s/photo) | extract (s/MP) | "
                  "clean photos decoded / verified |", "| --- |" + " ---: |" * 5]
        for x in summaries:
            clean = "-" if x["peer"] else f"{x['clean_found']} / {x['clean_verified']}"
            lines.append(f"| {x['name']} | {num(x['embed_s'], '.3f')} | {num(x['embed_s_per_mp'], '.3f')}"
                         f" | {num(x['extract_s'], '.3f')} | {num(x['extract_s_per_mp'], '.3f')} | {clean} |")
        lines += ["", "SSIM: luma, Gaussian window of σ 1.5 (Wang et al. 2004)." + (
                  " SSIMULACRA 2: 100 identical, 90 visually lossless, 70 high, 50 medium, 30 low quality; worst: "
                  "the lowest photo. FLIP: mean LDR-FLIP error at 67 pixels per degree, 0 identical; worst: the "
                  "highest photo. FLIP misses smooth low-frequency blotches: judge by SSIMULACRA 2."
                  if perceptual else "") + " Time per photo: one embed and one extract; per megapixel: of the photo "
                  "embedded, of the (attacked) photo read."]
        lines += [""] + [f"Skipped {item['kind']} {item['name']}: {item['reason']}" for item in self.skipped]
        if any(v is None for x in summaries for a in self.attacks for v in [x["attacks"][a].get("accuracy")]
               if x["peer"]):
            lines.append("`-`: the tool could not read the attacked photos (see report.json).")
        return "\n".join(lines).rstrip("\n") + "\n"

    def chart(self) -> bytes:
        """robustness.png: bit accuracy per attack (rows) and system (bars), the 99 % bar
        and chance (50 %) marked. ImportError without matplotlib."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        summaries, attacks = self.summary(), self.attacks
        rows = len(attacks) + 1  # the mean last
        height = 1.2 + rows * (0.16 * len(summaries) + 0.12)
        figure = Figure(figsize=(8.0, height), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        step = 0.8 / max(1, len(summaries))
        for k, summary in enumerate(summaries):
            values = [summary["attacks"][a].get("accuracy", summary["attacks"][a].get("accuracy_message"))
                      for a in attacks]
            values.append(summary["mean"].get("accuracy", summary["mean"].get("accuracy_message")))
            ys = [row + (k - (len(summaries) - 1) / 2) * step for row in range(rows)]
            shown = [100 * v if v is not None else 0.0 for v in values]
            bars = axes.barh(ys, shown, height=step * 0.9, label=f"{summary['name']} ({summary['bits']} bits)")
            for bar, value in zip(bars, values):
                text = "n/a" if value is None else f"{100 * value:.1f}"
                axes.text(max(bar.get_width(), 40) + 0.3, bar.get_y() + bar.get_height() / 2, text,
                          va="center", fontsize=6, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        axes.axvline(100 * BAR, color="black", linestyle="--", linewidth=0.8)
        axes.axvline(50, color="grey", linestyle=":", linewidth=0.8)
        axes.set_yticks(range(rows), [*attacks, "mean"], fontsize=8)
        axes.set_ylim(rows - 0.5, -0.5)  # the first attack on top
        axes.set_xlim(40, 105)
        axes.set_xlabel("bit accuracy (%)   -- 99 % bar   ·· chance")
        s = self.settings
        size = f"{s['size']}×{s['size']}" if s["size"] else "native size"
        axes.set_title(f"{s['images']} photos, {size}, model {s['model']}, seed {s['seed']}", fontsize=9)
        figure.legend(fontsize=7, loc="outside lower center", ncols=min(3, len(summaries)), frameon=False)
        out = io.BytesIO()
        figure.savefig(out, format="png", metadata={"Software": None})
        return out.getvalue()

    def save(self, folder: str | os.PathLike[str], note: Callable[[str], None] | None = None) -> list[Path]:
        """Write report.json, report.csv, report.md and robustness.png into ``folder``
        (created), each atomically. Without matplotlib the chart is left out and ``note``
        told why."""
        folder = Path(folder)
        files: list[tuple[str, str | bytes]] = [("report.json", self.to_json()), ("report.csv", self.to_csv()),
                                                ("report.md", self.to_markdown())]
        try:
            files.append((CHART, self.chart()))
        except ImportError:
            if note is not None:
                note(f"{CHART} not drawn: matplotlib is not installed (pip install 'wmark[plot]')")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return [_write_atomically(folder / name, content) for name, content in files]
        except OSError as error:
            raise OutputError(f"cannot write the report into {folder}: {error.strerror or error}") from None


class Journal:
    """Per-photo records as JSON lines: a header with the settings, then one line per photo
    measured (``index``, ``path``, ``records`` by system). Opening it with other settings
    starts it afresh; a torn last line (an interrupted write) is dropped."""

    def __init__(self, path: str | os.PathLike[str], settings: dict[str, Any],
                 log: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.done: dict[tuple[int, str], dict[str, Any]] = {}
        header = json.dumps({"wmark_bench_journal": 1, "settings": settings}, sort_keys=True, default=str)
        lines = self._read()
        if lines and lines[0] == header:
            kept = [lines[0]]
            for line in lines[1:]:
                try:
                    entry = json.loads(line)
                    self.done[(entry["index"], entry["path"])] = entry
                except (ValueError, KeyError, TypeError):
                    break
                kept.append(line)
            if self.done and log is not None:
                log(f"{self.path}: {len(self.done)} photo(s) already measured with these settings, taken from it")
        else:
            if lines and log is not None:
                log(f"{self.path}: measured with other settings, starting afresh")
            kept = [header]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_name(f".{self.path.name}.tmp")
            temp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.replace(temp, self.path)
            self.out = self.path.open("a", encoding="utf-8")
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {error.strerror or error}") from None

    def _read(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise OutputError(f"cannot read {self.path}: {error}") from None

    def get(self, index: int, path: str) -> dict[str, Any] | None:
        return self.done.get((index, path))

    def add(self, entry: dict[str, Any]) -> None:
        self.out.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
        self.out.flush()

    def close(self) -> None:
        self.out.close()


def _write_atomically(path: Path, content: str | bytes) -> Path:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        if isinstance(content, bytes):
            with os.fdopen(handle, "wb") as out:
                out.write(content)
        else:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(content)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
