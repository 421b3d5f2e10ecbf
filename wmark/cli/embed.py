"""``wmark embed``: mark photos with a message, beside them or into a folder."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import OutputExistsError, UsageError, WeakMarkError
from .files import check_output, expand_inputs, load_key, names_many, output_path_for, read_input
from .options import (BitsOption, ForceOption, HexOption, InputsArgument, JobsOption, JsonOption, KeyOption,
                      MessageSpec, ModelOption, MsgOption, OutputOption, QualityOption, RayOption, RecursiveOption,
                      TimeoutOption)
from .printing import note, task_progress
from .runner import Outcome, raise_if_stopping, run_per_input

DeviceOption = Annotated[str, typer.Option("--device", metavar="auto|cpu|cuda|mps",
                                           help="Where the model runs.")]
ISMARK_PANEL = "ISMark (--method ismark, and auto's fallback)"
ItersOption = Annotated[Optional[int], typer.Option(
    "--iters", min=0, metavar="K", show_default=False, rich_help_panel=ISMARK_PANEL,
    help="At most K optimisation steps (default 200); it stops sooner once every attack reads every bit with "
         "a margin.")]
TargetPsnrOption = Annotated[Optional[float], typer.Option(
    "--target-psnr", metavar="DB", show_default=False, rich_help_panel=ISMARK_PANEL,
    help="Least PSNR of the marked photo (default 40 with --method ismark, none for auto; 20 to 55); it only "
         "ever lowers the --strength's energy.")]
AttacksOption = Annotated[Optional[str], typer.Option(
    "--attacks", metavar="LIST", show_default=False, rich_help_panel=ISMARK_PANEL,
    help="Attacks to harden against, comma-separated (default jpeg,resize,blur,saturation,brightness,contrast,"
         "crop-edge; also webp, crop, rotate, median, noise, salt-pepper, hue).")]


def to_message(spec: MessageSpec) -> Any:
    """The payload :class:`~wmark.payload.Message` of a command-line message."""
    from ..payload import Message

    if spec.kind == "text":
        return Message.from_text(spec.value)
    if spec.kind == "hex":
        return Message.from_hex(spec.value)
    return Message.from_bits(spec.value)


def embed(
    inputs: InputsArgument,
    output: OutputOption = None,
    msg: MsgOption = None,
    hex_: HexOption = None,
    bits: BitsOption = None,
    method: Annotated[str, typer.Option("--method", metavar="auto|encoder|ismark",
                                        help="encoder: one network pass at --strength; ismark: per-image optimisation "
                                             "against the decoder under the same budget (a few s, up to ~30 s; the "
                                             "ISMark options below); auto: the encoder at 0.5, 0.71 and 1 x --strength, "
                                             "faintest first, keeping the first mark that passes the self-check and "
                                             "reads back after JPEG 50, greyscale, brightness x1.3 and contrast x1.3 "
                                             "(fainter than --strength: with a margin after a crop and JPEG); else "
                                             "ismark.")] = "auto",
    strength: Annotated[float, typer.Option("--strength", min=0.05, max=10.0, metavar="F",
                                            help="Visibility ceiling: no pixel changes by more than F x its "
                                                 "just-noticeable difference (x the mask's gain); 1 is the default "
                                                 "visibility, higher survives more and shows more.")] = 1.0,
    score: Annotated[bool | None, typer.Option("--score/--no-score",
                                               help="--score: also print the marked photo's SSIMULACRA 2 (--json "
                                                    "always has it; a photo over 1920x1080 is scored fitted to "
                                                    "it). --no-score: never score (~0.6 s less a 512x512 photo; "
                                                    "null in --json).")] = None,
    model: ModelOption = None,
    key: KeyOption = None,
    quality: QualityOption = None,
    device: DeviceOption = "auto",
    iters: ItersOption = None,
    target_psnr: TargetPsnrOption = None,
    attacks: AttacksOption = None,
    c2pa_sign: Annotated[tuple[Path, Path] | None, typer.Option(
        "--c2pa-sign", metavar="CERT KEY", show_default=False,
        help="Also write a signed C2PA manifest recording the mark (PEM certificate chain, PEM key; "
             "needs wmark[c2pa]).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse (exit 6, nothing written) a mark that fails "
                                         "the self-check, instead of warning.")] = False,
    recursive: RecursiveOption = False,
    jobs: JobsOption = 1,
    timeout: TimeoutOption = 900.0,
    ray: RayOption = None,
    json_output: JsonOption = False,
    force: ForceOption = False,
) -> None:
    """Hide a message in photos: [b]wmark embed photo.jpg --msg owner[/b] writes photo.wm.jpg.

    The output keeps the input's format, EXIF/ICC/XMP, PNG text, alpha, JPEG quality (4:4:4 chroma) and 16-bit PNG depth; the input is never overwritten. An existing output is skipped (so an interrupted run can be run again). A photo that already carries a mark is refused (exit 6). --force replaces both.

    Every mark is read back from the output and from a JPEG 75 copy of it (a message must decode; raw --bits must read with at most 1 % wrong); one that fails is reported as not robust (--strict refuses it). PSNR is reported (stderr, --json).

    --method ismark optimises each photo against the decoder through the --attacks' noise layers (a progress line on a terminal). --c2pa-sign CERT KEY also signs a C2PA manifest into the output (JPEG, PNG, WebP, TIFF) whose soft-binding assertion records the mark.
    """
    from .options import message_spec

    spec = message_spec(msg, hex_, bits)
    from ..api import METHODS

    if method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)} (got {method!r})")
    options = ismark_options(method, iters, target_psnr, attacks)
    message = to_message(spec)
    from ..zoo import check_fits

    check_fits(message, model or "default")  # before any photo: unknown model (exit 5), too long (exit 2)
    secret = load_key(key)
    signer = None
    if c2pa_sign is not None:  # checked before any photo is read: a bad CERT/KEY writes nothing
        from ..provenance import load_signer

        signer = load_signer(*c2pa_sign)
    paths = expand_inputs(inputs, recursive=recursive)
    many = names_many(inputs, paths)

    def skipped(destination: Path) -> Outcome:
        note(f"{destination}: exists, skipped (--force replaces it)")
        return Outcome({"output": os.fspath(destination), "skipped": True})

    def work(path: Path) -> Outcome:
        from .. import api
        from ..imageio import output_format, output_quality, write_image

        destination = output_path_for(path, output, many=many)
        check_output(path, destination, force=True)  # never the input, a folder or an unknown format
        if signer is not None:
            from ..provenance import SoftBinding, signable_mime, write_signed

            signable_mime(destination)  # a format that holds no manifest (BMP): refused before any work
        if not force and os.path.lexists(destination):  # done by an earlier (interrupted) run
            return skipped(destination)
        image = read_input(path)
        raise_if_stopping()
        steps: list[int] = []  # ISMark's iterations, as they go
        with task_progress(options.iterations if options else 0) as update:
            def progress(iteration: int, loss: float, accuracy: float, psnr: float) -> None:
                raise_if_stopping()  # Ctrl-C: the photo stops between two iterations, nothing written
                steps.append(iteration)
                update(iteration, f"ISMark {path.name}: loss {loss:.4f}, bits {accuracy:.1%}, {psnr:.1f} dB")

            result = api.embed(image.rgb, message, model=model or "default", strength=strength, device=device,
                               method=method, key=secret, force=force,
                               score=json_output if score is None else score,
                               saved_quality=output_quality(output_format(destination), image, quality),
                               ismark=options and replace(options, progress=progress))
        raise_if_stopping()  # Ctrl-C meanwhile: stop here rather than start a write
        failed = [name for name, ok in result.survived.items() if not ok]
        if failed and strict:
            raise WeakMarkError(f"{path}: the mark does not read back after {', '.join(failed)}; nothing written "
                                "(raise --strength, or use a larger, more textured photo)")
        try:
            if signer is None:
                write_image(destination, result.image, like=image, quality=quality, force=force, inputs=[path])
            else:  # written beside, published signed: an unsigned file never takes the output's name
                binding = SoftBinding.for_watermark(result.model, result.bits.tolist())
                write_signed(destination, lambda staged: write_image(staged, result.image, like=image, quality=quality,
                                                                     force=True, inputs=[path]),
                             signer, binding, parent=path, force=force)
        except OutputExistsError:  # another run wrote it meanwhile
            return skipped(destination)
        if result.replaced is not None:
            note(f"{path}: replaced its earlier mark {result.replaced.display()!r}")
        used = f", ISMark {steps[-1]} iterations" if result.method == "ismark" and steps else ""
        scored = "" if result.ssimulacra2 is None else f", SSIMULACRA 2 {result.ssimulacra2:.1f}"
        note(f"{path} -> {destination} (strength {result.strength:.2g}, PSNR {result.psnr:.1f} dB{scored}{used})")
        if result.warning:
            note(f"warning: {path}: no robust mark fits under --strength {strength:g}: the photo is {result.warning}; "
                 "marked at the ceiling")
        if failed:
            note(f"warning: {path}: the mark is not robust: it does not read back after {', '.join(failed)} "
                 "(raise --strength, or use a larger, more textured photo)")
        record = {"output": os.fspath(destination), "psnr": round(result.psnr, 2),
                  "ssimulacra2": None if result.ssimulacra2 is None else round(result.ssimulacra2, 2),
                  "scored_view": result.scored_view, "model": result.model, "method": result.method,
                  "strength": round(result.strength, 4), "strength_ceiling": strength,
                  "bits": "".join(map(str, result.bits.tolist())), "robust": result.robust,
                  "survived": result.survived, "warning": result.warning,
                  "replaced": None if result.replaced is None else result.replaced.display()}
        if result.method == "ismark":
            record["iterations"] = steps[-1] if steps else 0
        if signer is not None:
            record["c2pa"] = binding.to_dict()
        return Outcome(record)

    status = run_per_input(paths, work, json_output=json_output, label="embed",
                            jobs=jobs, ray=ray, timeout=timeout)
    if status:
        raise typer.Exit(status)


def ismark_options(method: str, iters: int | None, target_psnr: float | None, attacks: str | None) -> Any:
    """The :class:`~wmark.ismark.IsmarkOptions` of the command line (None for ``encoder``,
    which refuses them; ``auto``'s fallback has no target PSNR unless one is given);
    UsageError for an unknown attack or a target out of range."""
    given = [name for name, value in (("--iters", iters), ("--target-psnr", target_psnr), ("--attacks", attacks))
             if value is not None]
    if method == "encoder":
        if given:
            raise UsageError(f"{', '.join(given)}: only with --method ismark or auto")
        return None
    from ..ismark import IsmarkOptions

    settings = {"iterations": iters, "target_psnr": target_psnr, "attacks": attacks}
    options = IsmarkOptions(**{name: value for name, value in settings.items() if value is not None})
    if method == "auto" and target_psnr is None:  # the fallback keeps the --strength's energy
        options = replace(options, target_psnr=None)
    return options


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
