"""``wmark models`` (the packaged models) and ``wmark train`` (make one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .options import JsonOption
from .printing import emit_json, emit_text, note


def models(json_output: JsonOption = False) -> None:
    """Packaged models: name, raw bits, capacity, working size, sha256, figures.

    Capacity: user bytes after Reed-Solomon (and symbols correctable), and the characters of a text in a compact alphabet: plain ASCII (but the backtick), or a-z 0-9 -./@ and space ("max_chars" in --json). A longer text or message needs another model: embed --model NAME. The first model is the default; extract and verify read with every one.
    """
    from ..payload import ALPHABETS
    from ..zoo import MODELS, capacity_of

    for entry in MODELS.values():
        cap = capacity_of(entry)
        chars = {a.name: cap.max_chars(a.name) for a in ALPHABETS} if cap else {a.name: 0 for a in ALPHABETS}
        record = {"name": entry.name, "bits": entry.bits, "max_bytes": cap.max_bytes if cap else 0,
                  "max_chars": chars, "correctable_symbols": cap.correctable if cap else 0, "size": entry.size,
                  "sha256": entry.sha256, "file": entry.file, "summary": entry.summary, "metrics": entry.metrics,
                  "mask_trained": entry.mask_trained}
        if json_output:
            emit_json(record)
            continue
        figures = ", ".join(f"{k} {v:g}" for k, v in entry.metrics.items())
        if cap is None:
            room = "raw bits only (too few for a protected message)"
        else:
            room = (f"{cap.max_bytes} bytes after Reed-Solomon ({cap.correctable} symbols correctable) or "
                    f"{chars['ascii']} characters of plain ASCII ({chars['lower']} of a-z 0-9 -./@ and space)")
        trained = "trained for the mask" if entry.mask_trained else "trained without the mask"
        emit_text(f"{entry.name}: {entry.bits} raw bits, {room}, {entry.size}x{entry.size}, {trained}, "
                  f"sha256 {entry.sha256}")
        emit_text(f"  {entry.summary}" + (f"; {figures}" if figures else ""))


def train(
    data: Annotated[Path, typer.Option("--data", metavar="DIR", help="Folder of training photos.")],
    out: Annotated[Path, typer.Option("--out", metavar="RUN_DIR", help="Run folder: checkpoint, weights, log.")],
    preset: Annotated[str, typer.Option("--preset", metavar="NAME", help="Training preset (default, v4, v4-wide, v5, v5-noblob, tiny).")]
    = "default",
    config: Annotated[Optional[Path], typer.Option("--config", metavar="FILE", show_default=False,
                                                   help="JSON training config (overrides --preset).")] = None,
    val_data: Annotated[Optional[Path], typer.Option("--val-data", metavar="DIR", show_default=False,
                                                     help="Held-back photos for validation.")] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Train until this step.")] = 100000,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in RUN_DIR exactly.")] = False,
    device: Annotated[str, typer.Option("--device", metavar="auto|cpu|cuda|mps")] = "auto",
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, show_default=False,
                                                   help="CPU threads for torch.")] = None,
    enhance: Annotated[Optional[Path], typer.Option("--enhance", metavar="WEIGHTS", show_default=False,
                                                    help="ISMark decoder enhancing of these weights instead.")] = None,
    enhance_decoder: Annotated[bool, typer.Option("--enhance-decoder", help="ISMark decoder enhancing of the "
                                                  "model of --from instead (the same as --enhance MODEL).")] = False,
    from_: Annotated[Optional[str], typer.Option("--from", metavar="MODEL", show_default=False,
                                                 help="With --enhance-decoder: a weights file or a packaged "
                                                      "model's name.")] = None,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Decoder-enhancing rounds (with --enhance).")] = 200,
    opt_share: Annotated[float, typer.Option("--opt-share", min=0.0, max=1.0, metavar="F",
                                             help="With --enhance: the share of rounds on ISMark-optimised marks "
                                                  "(the paper: 1); the others use the encoder's.")] = 0.0,
    abstain: Annotated[float, typer.Option("--abstain", min=0.0, metavar="W",
                                           help="With --enhance: weight of a term that teaches the decoder to "
                                                "read unmarked photos as 0.5 (no opinion).")] = 0.0,
    exclude: Annotated[Optional[Path], typer.Option("--exclude", metavar="FILE", show_default=False,
                                                    help="Photo names (one per line, # comments) never trained, "
                                                         "validated or enhanced on, e.g. benchmarks/heldout.txt "
                                                         "(overrides the preset's).")] = None,
) -> None:
    """Train a model (or resume one): checkpoints every few minutes and on Ctrl-C.

    With --enhance WEIGHTS, or --enhance-decoder --from MODEL: ISMark decoder enhancing (the
    decoder alone, encoder frozen, on marked photos under the real reference attacks);
    writes RUN_DIR/model.pt.
    """
    import dataclasses
    import json

    import torch

    from ..train import PRESETS, TrainConfig
    from ..train import train as run_training
    from ..zoo import resolve_device

    if config is not None:
        try:
            cfg = TrainConfig.from_dict(json.loads(config.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise UsageError(f"cannot use training config {config}: {error}") from None
    elif preset in PRESETS:
        cfg = PRESETS[preset]
    else:
        raise UsageError(f"unknown preset {preset!r} (choose {', '.join(sorted(PRESETS))})")
    if not data.is_dir():
        raise UsageError(f"--data {data} is not a folder")
    if exclude is not None:
        if not exclude.is_file():
            raise UsageError(f"--exclude {exclude} is not a file")
        cfg = dataclasses.replace(cfg, exclude=str(exclude))
    if threads:
        torch.set_num_threads(threads)
    enhance = _enhance_source(enhance, enhance_decoder, from_)
    if enhance is not None:
        from ..enhance import EnhanceConfig, enhance_weights

        settings = EnhanceConfig(iterations=rounds, opt_share=opt_share, abstain=abstain)
        emit_text(str(enhance_weights(enhance, data, out / "model.pt", settings, log=note, exclude=exclude)))
        return
    try:
        weights = run_training(cfg, data, out, steps, resume=resume, val_data=val_data,
                               device=resolve_device(device), log=note)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    emit_text(str(weights))


def _enhance_source(enhance: Path | None, enhance_decoder: bool, source: str | None) -> Path | None:
    """The weights to enhance: ``--enhance WEIGHTS``, or ``--enhance-decoder --from MODEL``
    (a weights file or a packaged model's name); None to train. UsageError when they clash."""
    if source is None:
        if enhance_decoder:
            raise UsageError("--enhance-decoder needs --from MODEL (a weights file or a packaged model's name)")
        return enhance
    if not enhance_decoder:
        raise UsageError("--from MODEL goes with --enhance-decoder")
    if enhance is not None:
        raise UsageError("give --enhance WEIGHTS or --enhance-decoder --from MODEL, not both")
    path = Path(source)
    if path.is_file():
        return path
    from .. import zoo
    from ..errors import ModelError

    try:
        return zoo.weights_path(zoo.get_entry(source))
    except ModelError as error:
        raise UsageError(f"--from {source}: not a weights file, and {error}") from None


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("train")(train)
