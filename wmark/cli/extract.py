"""``wmark extract`` and ``wmark verify``: read a mark back, or test for a given one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from .. import provenance
from ..errors import EXIT_NOT_FOUND, EXIT_OK
from .embed import DeviceOption, to_message
from .files import expand_inputs, load_key, read_input
from .options import (BitsOption, HexOption, InputsArgument, JobsOption, JsonOption, KeyOption, ModelOption, MsgOption,
                      RayOption, RecursiveOption, TimeoutOption, message_spec)
from .runner import Outcome, run_per_input


def extract(
    inputs: InputsArgument,
    raw: Annotated[bool, typer.Option("--raw", help="Print the model's raw bits, read at the alignment the "
                                       "message decoded at, else the most confident of the grid; exit 0.")] = False,
    model: ModelOption = None,
    key: KeyOption = None,
    device: DeviceOption = "auto",
    recursive: RecursiveOption = False,
    jobs: JobsOption = 1,
    timeout: TimeoutOption = 900.0,
    ray: RayOption = None,
    json_output: JsonOption = False,
) -> None:
    """Read the message of photos: text when it is UTF-8, else hex.

    Exit 0 when every input carried a mark (with --raw: was read), 1 when one did not. With --json and the c2pa extra, a photo's C2PA manifest (soft binding, signer, validation) is in "c2pa".

    --raw prints the raw bits (of marks made with embed --bits, which carry no message): those of the alignment the message decoded at, else of the most confident alignment of the crop/zoom/rotation grid (mean |2p - 1|, as wmark bench scores raw bits), read with --model (default: the default model). A raw read exits 0 once it printed its bits. The "bits" of --json come from the same alignment.
    """
    secret = load_key(key)
    paths = expand_inputs(inputs, recursive=recursive)
    many = len(paths) > 1
    with_manifest = json_output and provenance.available()

    def work(path: Path) -> Outcome:
        from .. import api

        result = api.extract(read_input(path).rgb, model=model or "default", key=secret, device=device)
        shown = result.bit_string if raw else (result.text if result.found else "(no watermark found)")
        text = f"{path}: {shown}" if many else shown
        record = result.to_dict()
        manifest = provenance.read_manifest(path) if with_manifest else None
        if manifest is not None:
            record["c2pa"] = manifest
        return Outcome(record, text=text, exit_code=EXIT_OK if result.found or raw else EXIT_NOT_FOUND)

    status = run_per_input(paths, work, json_output=json_output, label="extract",
                            jobs=jobs, ray=ray, timeout=timeout)
    if status:
        raise typer.Exit(status)


def verify(
    inputs: InputsArgument,
    msg: MsgOption = None,
    hex_: HexOption = None,
    bits: BitsOption = None,
    fpr: Annotated[float, typer.Option("--fpr", min=1e-300, max=0.5, metavar="P",
                                       help="False-positive rate of the decision on unmarked photos.")] = 1e-6,
    model: ModelOption = None,
    key: KeyOption = None,
    device: DeviceOption = "auto",
    recursive: RecursiveOption = False,
    jobs: JobsOption = 1,
    timeout: TimeoutOption = 900.0,
    ray: RayOption = None,
    json_output: JsonOption = False,
) -> None:
    """Does each photo carry this message? A p-value under "unmarked photo" and a decision at --fpr.

    Exit 0 when every input matched, 1 when one did not.
    """
    message = to_message(message_spec(msg, hex_, bits))
    from ..zoo import check_fits

    check_fits(message, model or "default")  # before any photo: unknown model (exit 5), too long (exit 2)
    secret = load_key(key)
    paths = expand_inputs(inputs, recursive=recursive)

    def work(path: Path) -> Outcome:
        from .. import api

        result = api.verify(read_input(path).rgb, message, model=model or "default", fpr=fpr, key=secret,
                            device=device)
        verdict = "match" if result.match else "no match"
        text = (f"{os.fspath(path)}: {verdict} ({result.matching_bits}/{result.total_bits} bits, "
                f"p = {result.p_value:.2e})")
        return Outcome(result.to_dict(), text=text, exit_code=EXIT_OK if result.match else EXIT_NOT_FOUND)

    status = run_per_input(paths, work, json_output=json_output, label="verify",
                            jobs=jobs, ray=ray, timeout=timeout)
    if status:
        raise typer.Exit(status)


def register(app: typer.Typer) -> None:
    app.command("extract")(extract)
    app.command("verify")(verify)
