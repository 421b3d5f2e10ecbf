"""``wmark bench``: embed, attack and extract on a folder of photos; a table of how the mark survives.

With --out the per-photo records go to REPORT_DIR/images.jsonl as they finish, and a re-run
with the same settings picks up where the last one stopped."""

from __future__ import annotations

import glob
import os
import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_INPUT, EXIT_OK, InputError, OutputError, UsageError
from .embed import DeviceOption
from .files import ensure_folder, expand_inputs, load_key
from .options import KeyOption, ModelOption, RecursiveOption
from .printing import emit_text, note, progress_bar, report_error


def bench(
    inputs: Annotated[list[Path], typer.Argument(metavar="DIR", show_default=False,
                                                 help="Folder of photos (or image files, quoted globs).")],
    attacks: Annotated[Optional[str], typer.Option(
        "--attacks", metavar="LIST", show_default=False,
        help="Columns, separated by commas: groups (reference: the 15 reference columns, the default; social; "
             "screenshot), presets (jpeg50, rot2, flip, ...; see `wmark attack --help`) or ATTACK=VALUE "
             "(jpeg=30).")] = None,
    preset: Annotated[Optional[list[str]], typer.Option(
        "--preset", metavar="NAME", show_default=False,
        help="A group or preset to add to the columns (repeatable): --preset social is --attacks social.")] = None,
    method: Annotated[str, typer.Option("--method", metavar="encoder|ismark|auto",
                                        help="How wmark embeds; encoder,ismark runs both.")] = "encoder",
    model: ModelOption = None,
    strength: Annotated[float, typer.Option("--strength", min=0.05, max=10.0, metavar="F",
                                            help="Residual strength of wmark's mark.")] = 1.0,
    size: Annotated[int, typer.Option("--size", min=0, metavar="N",
                                      help="Centre square resized to N x N; 0 keeps the photos as they are.")] = 512,
    limit: Annotated[Optional[int], typer.Option("--limit", "--max-images", min=1, metavar="N", show_default=False,
                                                 help="Only the first N photos.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, metavar="N", help="Seed of the bits and attacks.")] = 0,
    messages: Annotated[str, typer.Option("--messages", metavar="both|bits|text",
                                          help="Raw random bits (bit accuracy), a Reed-Solomon text "
                                               "(exact recovery), or both.")] = "both",
    peers: Annotated[bool, typer.Option("--peers", help="Also run invisible-watermark (dwtDct, dwtDctSvd, "
                                                        "rivaGan) and blind-watermark, if installed.")] = False,
    no_quality: Annotated[bool, typer.Option("--no-quality", help="Leave out the perceptual scores (SSIMULACRA 2, "
                                                                  "FLIP) of the marked photos: faster.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", metavar="REPORT_DIR", show_default=False,
        help="Write report.md, report.json, report.csv and robustness.png here, and each photo's numbers to "
             "images.jsonl as they come (a re-run with the same settings resumes from it).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Measure every photo again, ignoring REPORT_DIR/images.jsonl.")
                     ] = False,
    device: DeviceOption = "auto",
    key: KeyOption = None,
    recursive: RecursiveOption = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the JSON report, not the table.")] = False,
) -> None:
    """Measure robustness on your photos: bit accuracy and exact message recovery per attack, and image quality.

    Prints Markdown tables on stdout (--json: the full report with every per-photo number); --out also writes report.json, report.csv, report.md and robustness.png (with matplotlib) there, and is resumable.

    Exit 3 when a photo could not be read (it is skipped, the others are measured), 2 for a bad option or attack, 4 when the report cannot be written.
    """
    from ..bench import JOURNAL, MESSAGE_MODES, parse_attacks, run_benchmark

    columns = ",".join([*([attacks] if attacks else []), *(preset or [])]) or "reference"
    parse_attacks(columns)  # an unknown attack fails before any work
    secret = load_key(key)
    from ..api import METHODS

    if set(m.strip() for m in method.split(",")) - set(METHODS):
        raise UsageError(f"--method must be {', '.join(METHODS)} or several joined by commas (got {method!r})")
    if messages not in MESSAGE_MODES:
        raise UsageError(f"--messages must be one of {', '.join(MESSAGE_MODES)} (got {messages!r})")
    if 0 < size < 64:
        raise UsageError(f"--size must be at least 64, or 0 for the photos as they are (got {size})")
    missing = [item for item in inputs if not glob.has_magic(os.fspath(item)) and not os.path.lexists(item)]
    if missing:
        raise InputError(f"{missing[0]}: no such file or folder")
    paths = expand_inputs(inputs, recursive=recursive)[:limit]
    if out is not None:
        ensure_folder(out)
        if not os.access(out, os.W_OK):
            raise OutputError(f"cannot write into the report folder {out}")

    command = ["wmark", "bench", *map(os.fspath, inputs), "--attacks", columns, "--method", method,
               "--size", str(size), "--seed", str(seed), "--messages", messages]
    command += ["--strength", f"{strength:g}"] if strength != 1.0 else []
    command += (["--model", model] if model else []) + (["--limit", str(limit)] if limit else [])
    command += ["--peers"] if peers else []
    command += ["--no-quality"] if no_quality else []
    command += ["--key", os.fspath(key)] if key else []
    journal = out / JOURNAL if out is not None else None
    if journal is not None and fresh:
        journal.unlink(missing_ok=True)
    status = EXIT_OK
    with progress_bar(len(paths), "bench") as advance:
        shown = 0

        def progress(done: int, total: int, label: str) -> None:
            nonlocal shown
            while shown < done * len(paths) // total:
                advance(label)
                shown += 1

        def on_error(path: Path, error: Exception) -> None:
            nonlocal status
            status = max(status, report_error(error, path))

        report = run_benchmark(paths, attacks=columns, method=method, model=model or "default", strength=strength,
                               size=size or None, seed=seed, message_mode=messages, peers=peers,
                               quality=not no_quality, device=device,
                               key=secret, progress=progress, on_error=on_error, command=shlex.join(command),
                               journal=journal, log=note)
    for item in report.skipped:
        if item["kind"] == "peer":
            note(f"skipped peer {item['name']}: {item['reason']}")
    if out is not None:
        written = report.save(out, note=note)
        note("wrote " + ", ".join(os.fspath(path) for path in written))
    emit_text(report.to_json() if json_output else report.to_markdown().rstrip("\n"))
    if not report.settings["images"]:
        status = max(status, EXIT_INPUT)
    if status:
        raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
