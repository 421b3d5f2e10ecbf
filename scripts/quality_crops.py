"""Show what a mark looks like: 1:1 crops of marked photos, their differences and their JND maps.

    python scripts/quality_crops.py [--out docs/quality] [--model default] [--page docs/quality.md]

Deterministic and offline. The photos are a smooth sunset sky this script renders (1024×768,
seeded) and the unrestricted Kodak photos of tests/data/ (kodim01 brick and door, kodim23
parrots). Each is marked with ``wmark.embed(..., method="encoder", check=False)``. Writes, in
``--out``: ``NAME-crop.png`` (a 1:1 crop: original | marked | 128 + 10 × (marked − original)),
``NAME-jnd.png`` (the photo beside its JND heatmap, the crops outlined) and, for the two
sky crops (``sky``: least JND, mid-grey above the horizon; ``sky-dark``: the top of the
sky), ``NAME-strengths.png`` (10× differences at strengths 0.5, 1 and 2). Prints PSNR (and
SSIMULACRA 2 where :mod:`wmark.metrics` has it) of whole photos and crops and writes the
table into the ``<!-- generated:quality-scores -->`` block of ``--page``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

import wmark
from wmark import mask, metrics

ROOT = Path(__file__).resolve().parent.parent
KODAK = {"kodim01": "most", "kodim23": "least"}  # the crop: most mean JND (brick) or least
CROP = 256
AMPLIFY = 10
JND_SCALE = 30.0  # heatmap colours: 0 .. 30 levels, black .. yellow (inferno)
STRENGTHS = (0.5, 1.0, 2.0)


def render_sky(seed: int = 0, width: int = 1024, height: int = 768) -> np.ndarray:
    """A sunset: a smooth deep-blue-to-orange sky, faint soft clouds, dark textured hills, grain."""
    rng = np.random.default_rng(seed)
    t = (np.arange(height, dtype=np.float32) / (0.68 * height)).clip(0, 1)[:, None, None] ** 1.4
    top, horizon = np.array([18, 38, 105], np.float32), np.array([248, 150, 72], np.float32)
    img = np.broadcast_to(top + (horizon - top) * t, (height, width, 3)).copy()
    clouds = cv2.resize(rng.standard_normal((12, 16)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    clouds = cv2.GaussianBlur(clouds, (0, 0), 40)
    img += (4.0 / (np.abs(clouds).max() + 1e-6)) * clouds[..., None] * np.array([1.0, 0.8, 0.6], np.float32)
    x = np.arange(width, dtype=np.float32)
    ridge = (0.7 * height + 28 * np.sin(x / 170 + 1.3) + 14 * np.sin(x / 61 + 0.4)
             + cv2.GaussianBlur(rng.standard_normal((1, width)).astype(np.float32), (0, 0), 6)[0] * 25)
    hills = np.arange(height, dtype=np.float32)[:, None] >= ridge[None, :]
    texture = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.0) * 12
    ground = np.array([28, 22, 30], np.float32) + texture[..., None]
    img = np.where(hills[..., None], ground, img)
    img += rng.normal(0, 0.6, img.shape).astype(np.float32)  # sensor grain
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def pick(jnd: np.ndarray, size: int, most: bool) -> tuple[int, int]:
    """Top-left corner of the size×size window of least (or most) mean squared JND (an edge
    weighs more than its area), on a 16 px grid."""
    sums = cv2.integral(np.square(jnd, dtype=np.float64))
    best: tuple[float, int, int] | None = None
    for y in range(0, jnd.shape[0] - size + 1, 16):
        for x in range(0, jnd.shape[1] - size + 1, 16):
            total = sums[y + size, x + size] - sums[y, x + size] - sums[y + size, x] + sums[y, x]
            score = -total if most else total
            if best is None or score < best[0]:
                best = (score, y, x)
    assert best is not None
    return best[1], best[2]


def difference(original: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """128 + AMPLIFY × (marked − original), clipped to uint8."""
    diff = marked.astype(np.float32) - original.astype(np.float32)
    return np.clip(128 + AMPLIFY * diff, 0, 255).astype(np.uint8)


def colour_jnd(jnd: np.ndarray) -> np.ndarray:
    """The heatmap as RGB at a fixed scale (0 .. JND_SCALE levels), comparable across photos."""
    grey = np.clip(jnd / JND_SCALE * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def strip(panels: list[tuple[str, np.ndarray]], gap: int = 6, label: int = 16) -> Image.Image:
    """Panels side by side on white, each with its label above it."""
    height = max(p.shape[0] for _, p in panels)
    width = sum(p.shape[1] for _, p in panels) + gap * (len(panels) - 1)
    sheet = Image.new("RGB", (width, height + label), "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for text, panel in panels:
        sheet.paste(Image.fromarray(panel), (x, label))
        draw.text((x + 2, 2), text, fill="black")
        x += panel.shape[1] + gap
    return sheet


def scores(original: np.ndarray, marked: np.ndarray, limit: np.ndarray) -> dict[str, float]:
    """PSNR, SSIMULACRA 2 (when the library has it), the largest change and the share of pixels
    over ``limit``, the budget (of the whole photo: a crop's own heatmap differs at its border)."""
    change = np.abs(marked.astype(np.float32) - original.astype(np.float32)).max(axis=2)
    row = {"psnr": metrics.psnr(original, marked), "max": float(change.max()),
           # the rounding to uint8 may add half a level to a change held within the budget
           "over": float((change > limit + 0.5).mean())}
    if hasattr(metrics, "ssimulacra2"):
        row["ssimulacra2"] = float(metrics.ssimulacra2(original, marked))
    return row


def table(rows: list[tuple[str, float, dict[str, float]]], model: str) -> str:
    """The scores as a Markdown table."""
    ssim2 = all("ssimulacra2" in row for _, _, row in rows)
    lines = ["| photo | strength | PSNR | " + ("SSIMULACRA 2 | " if ssim2 else "")
             + "largest change (levels) | pixels over the budget |",
             "| --- | ---: | ---: | " + ("---: | " if ssim2 else "") + "---: | ---: |"]
    for name, strength, row in rows:
        lines.append(f"| {name} | {strength:g} | {row['psnr']:.1f} dB | "
                     + (f"{row['ssimulacra2']:.1f} | " if ssim2 else "")
                     + f"{row['max']:.0f} | {100 * row['over']:.2f} % |")
    return f"Model `{model}`, `--method encoder`:\n\n" + "\n".join(lines)


def write_page(page: Path, text: str) -> None:
    """Replace the generated block of ``page`` with ``text`` (nothing when it has no block)."""
    if not page.exists():
        return
    pattern = re.compile(r"(<!-- generated:quality-scores -->\n).*?(<!-- /generated:quality-scores -->)", re.S)
    old = page.read_text(encoding="utf-8")
    new = pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), old)
    if new != old:
        page.write_text(new, encoding="utf-8")


def crops(name: str, rgb: np.ndarray, jnd: np.ndarray) -> dict[str, tuple[int, int, int]]:
    """The crops of a photo, by file name: (top, left, size)."""
    size = min(CROP, *rgb.shape[:2])
    if name == "sky":  # the least JND (mid-grey sky above the horizon) and the dark top of the sky
        return {"sky": (*pick(jnd, size, False), size), "sky-dark": (0, (rgb.shape[1] - size) // 2, size)}
    return {name: (*pick(jnd, size, KODAK[name] == "most"), size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "quality", help="folder of the PNGs")
    parser.add_argument("--model", default="default", help="zoo model name (default: the default model)")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "quality.md",
                        help="page whose generated:quality-scores block gets the table")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photos = {"sky": render_sky()}
    for name in KODAK:
        photos[name] = np.asarray(Image.open(ROOT / "tests" / "data" / f"{name}.png").convert("RGB"))
    rows: list[tuple[str, float, dict[str, float]]] = []
    model = args.model
    for name, rgb in photos.items():
        jnd = mask.heatmap(rgb)
        windows = {file: (slice(y, y + size), slice(x, x + size))
                   for file, (y, x, size) in crops(name, rgb, jnd).items()}
        diffs: dict[str, list[tuple[str, np.ndarray]]] = {file: [] for file in windows}
        for strength in STRENGTHS if name == "sky" else (1.0,):
            result = wmark.embed(rgb, "wmark", model=args.model, strength=strength, method="encoder",
                                 check=False)
            marked, model = np.asarray(result.image), result.model
            limit = mask.budget(rgb, strength)
            rows.append((f"{name} (whole)", strength, scores(rgb, marked, limit)))
            for file, window in windows.items():
                rows.append((f"{file} crop", strength, scores(rgb[window], marked[window], limit[window])))
                diffs[file].append((f"{AMPLIFY}x difference, strength {strength:g}",
                                    difference(rgb[window], marked[window])))
                if strength == 1.0:
                    strip([("original", rgb[window]), ("marked, strength 1", marked[window]),
                           (f"{AMPLIFY}x difference", diffs[file][-1][1])]).save(args.out / f"{file}-crop.png")
        if name == "sky":
            for file in windows:
                strip(diffs[file]).save(args.out / f"{file}-strengths.png")
        scale = min(1.0, 512 / rgb.shape[1])
        small = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
        outlined = Image.fromarray(rgb)
        for ys, xs in windows.values():
            ImageDraw.Draw(outlined).rectangle((xs.start, ys.start, xs.stop - 1, ys.stop - 1),
                                               outline=(0, 255, 0), width=3)
        heat = Image.fromarray(colour_jnd(jnd)).resize(small, Image.Resampling.LANCZOS)
        strip([("photo (crops outlined)", np.asarray(outlined.resize(small, Image.Resampling.LANCZOS))),
               (f"JND, 0..{JND_SCALE:g} levels", np.asarray(heat))]).save(args.out / f"{name}-jnd.png")
        for file, (ys, xs) in windows.items():
            print(f"{file}: crop {xs.stop - xs.start}x{ys.stop - ys.start} at ({xs.start}, {ys.start}) of "
                  f"{rgb.shape[1]}x{rgb.shape[0]}, mean JND {jnd[ys, xs].mean():.1f} levels "
                  f"(photo median {np.median(jnd):.1f})")
    text = table(rows, model)
    print(text)
    write_page(args.page, text)


if __name__ == "__main__":
    main()
