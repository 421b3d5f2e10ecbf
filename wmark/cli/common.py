"""What every command shares: settings, output streams, error lines, inputs, outputs, messages.

A new command (``embed``, ``extract``, ...) is usually::

    def extract(inputs: InputsArgument, json_output: JsonOption = False, recursive: RecursiveOption = False):
        paths = expand_inputs(inputs, recursive=recursive)
        def work(path):            # raise a WmarkError for a bad input
            ...
            return Outcome({"found": True, ...}, text="...", exit_code=0)
        raise typer.Exit(run_per_input(paths, work, json_output=json_output, label="extract"))

Conventions (DESIGN.md, "The command line"): machine output goes to stdout only
(:func:`emit_json`, :func:`emit_text`); human notes, errors and the progress bar go to
stderr (:func:`echo_err`, :func:`progress_bar`); an error is one ``error: ...`` line
(:func:`report_error`) whose exit status comes from :func:`wmark.errors.exit_code_for`.
Nothing heavy is imported here: NumPy and Pillow load inside the helpers that need them.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import EXIT_OK, ModelError, OutputError, StuckError, UsageError, WmarkError, exit_code_for

try:  # typer >= 0.16 vendors click
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - typer on top of click
    from click import get_current_context


# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """Global options (``wmark --debug --quiet CMD``), kept on the root context's ``obj``."""

    debug: bool = field(default_factory=lambda: os.environ.get("WMARK_DEBUG", "") not in ("", "0"))
    quiet: bool = False
    max_pixels: int | None = None  # --max-pixels N (0: no limit); None: WMARK_MAX_PIXELS or 100 MP


_detached_settings: Settings | None = None  # a command's settings in a Ray actor, which has no context


def settings() -> Settings:
    """The current run's :class:`Settings` (the defaults outside a command)."""
    ctx = get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, Settings):
        return root.obj
    return _detached_settings or Settings()


# --------------------------------------------------------------------------- output


_progress_console: Any = None  # the rich console of the live progress bar, if any
_progress_live: Any = None  # its rich Progress, where :func:`task_progress` adds lines


def echo_err(message: str) -> None:
    """One human line on stderr (printed above a live progress bar, if one is shown)."""
    if _progress_console is not None:
        _progress_console.print(message, markup=False, highlight=False, soft_wrap=True)
        return
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def note(message: str) -> None:
    """A human note on stderr, unless ``--quiet``."""
    if not settings().quiet:
        echo_err(message)


def _write_line(line: str) -> None:
    """One line on stdout in a single flushed write, so that records never interleave."""
    out = sys.stdout
    data = line if line.endswith("\n") else line + "\n"
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        buffer.write(data.encode(getattr(out, "encoding", None) or "utf-8", errors="replace"))
        buffer.flush()
    else:
        out.write(data)
        out.flush()


def emit_json(record: dict[str, Any]) -> None:
    """Print ``record`` as one JSON line on stdout (paths and other objects become strings)."""
    _write_line(json.dumps(record, ensure_ascii=False, default=str, separators=(", ", ": ")))


def emit_text(text: str) -> None:
    """Print one line of a command's result on stdout (the human form of ``--json``)."""
    _write_line(text)


def error_message(error: BaseException) -> str:
    """The one-line text of ``error``: its message for a WmarkError, a bug report otherwise."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    text = " ".join(str(error).split())
    if isinstance(error, WmarkError):
        return text or type(error).__name__
    detail = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return f"internal error ({detail}); run with --debug for the traceback"


def report_error(error: BaseException, path: str | os.PathLike[str] | None = None) -> int:
    """Print one ``error: [PATH: ]...`` line on stderr (and the traceback with ``--debug``).

    ``PATH:`` is left out when the message already names the path. Returns the exit
    status for ``error`` (:func:`wmark.errors.exit_code_for`, the one mapping).
    """
    message = error_message(error)
    if settings().debug and not isinstance(error, KeyboardInterrupt):
        sys.stderr.write("".join(traceback.format_exception(error)))
    if path is not None and os.fspath(path) not in message:
        message = f"{os.fspath(path)}: {message}"
    echo_err(f"error: {message}")
    return exit_code_for(error)


@contextmanager
def progress_bar(total: int, label: str = "", *, quiet: bool = False) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr; yields ``advance(description="")``.

    Shown only when stderr is a terminal, there is work, and neither ``--quiet`` nor
    ``quiet`` is set; otherwise ``advance`` does nothing. :func:`echo_err` prints above it.
    """
    global _progress_console, _progress_live
    if quiet or settings().quiet or total <= 0 or not sys.stderr.isatty():
        yield lambda description="": None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        _progress_console, _progress_live = console, progress
        try:
            yield lambda description="": progress.update(task, advance=1, description=description or label)
        finally:
            _progress_console = _progress_live = None


@contextmanager
def task_progress(total: int) -> Iterator[Callable[[int, str], None]]:
    """A line of its own on the live :func:`progress_bar` for the steps of one input (e.g.
    ISMark's iterations); yields ``update(completed, description)``. The line appears at
    the first update and goes at the end; without a live bar ``update`` does nothing."""
    progress, task = _progress_live, None

    def update(completed: int, description: str) -> None:
        nonlocal task
        if progress is None:
            return
        if task is None:
            task = progress.add_task(description, total=total)
        progress.update(task, completed=completed, description=description)

    try:
        yield update
    finally:
        if task is not None:
            progress.remove_task(task)


# --------------------------------------------------------------------------- inputs


def expand_inputs(inputs: Sequence[str | os.PathLike[str]], *, recursive: bool = False) -> list[Path]:
    """Files, folders and globs to image paths, in a stable order, each once.

    Folders give the images in them (and below with ``recursive``); a quoted glob is
    expanded (see :func:`wmark.imageio.iter_image_paths`). A path that does not exist is
    kept, so that :func:`run_per_input` reports it (exit 3) and goes on with the others.
    UsageError (exit 2) when nothing is given; InputError (exit 3) when folders hold no image.
    """
    if not inputs:
        raise UsageError("no input given")
    from ..errors import InputError
    from ..imageio import iter_image_paths

    paths = list(iter_image_paths([os.fspath(item) for item in inputs], recursive=recursive))
    if not paths:
        raise InputError(f"no image found in {', '.join(os.fspath(item) for item in inputs)}")
    return paths


def read_input(path: str | os.PathLike[str]) -> Any:
    """:func:`wmark.imageio.read_image` with the run's pixel limit (``wmark --max-pixels N``).

    Returns a LoadedImage; InputError (exit 3, one line naming the path) when unreadable.
    """
    from ..imageio import read_image

    limit = settings().max_pixels
    if limit is None:
        return read_image(path)
    return read_image(path, max_pixels=limit or None)


@dataclass
class Outcome:
    """What one input gave: its JSON record, its human line (stdout) and its exit status."""

    record: dict[str, Any]
    text: str | None = None
    exit_code: int = EXIT_OK


def run_per_input(
    paths: Sequence[Path],
    work: Callable[[Path], Outcome | dict[str, Any]],
    *,
    json_output: bool = False,
    quiet: bool = False,
    label: str = "",
    jobs: int = 1,
    ray: str | None = None,
    timeout: float | None = None,
) -> int:
    """Run ``work`` on every path; a failing input is reported and skipped.

    ``work`` returns an :class:`Outcome` (or just its record) or raises. With
    ``json_output`` each record is printed as one JSON line (``path`` first); otherwise
    its ``text``, if any. A failure prints one ``error: ...`` line on stderr (with
    ``json_output`` also ``{"path", "error", "exit_code"}`` on stdout) and the loop goes
    on; a ModelError (no usable model: every input would fail alike) and Ctrl-C stop it.
    ``jobs`` > 1 runs ``work`` in that many threads (decoding, resizing, the network and
    encoding release the GIL); results are still printed in input order. ``ray`` (an
    address, :data:`RayOption`) runs ``work`` in Ray actors instead, ``jobs`` > 1 of them
    (:mod:`wmark.cli.cluster`). ``timeout``: seconds one input may take before it is
    reported (StuckError, exit 3) and the run goes on without it (:func:`_within`).
    Returns 0 when every input succeeded, else the highest status met.
    """

    def attempt(path: Path) -> Outcome | BaseException:
        try:
            outcome = work(path)
        except Exception as error:  # one bad file must not stop the run
            return error
        return outcome if isinstance(outcome, Outcome) else Outcome(dict(outcome))

    if timeout is not None:
        attempt = _within(attempt, timeout)

    status = EXIT_OK
    with progress_bar(len(paths), label, quiet=quiet) as advance, _executor(jobs, ray) as executor:
        results = executor.map(attempt, paths) if executor is not None else map(attempt, paths)
        for path, outcome in zip(paths, results):
            if isinstance(outcome, BaseException):
                model_error = isinstance(outcome, ModelError)  # not this input's fault: no path
                code = report_error(outcome, None if model_error else path)
                if json_output:
                    emit_json({"path": os.fspath(path), "error": error_message(outcome), "exit_code": code})
                status = max(status, code)
                if model_error:  # every other input would fail the same way
                    break
            else:
                if json_output:
                    emit_json({"path": os.fspath(path), **outcome.record})
                elif outcome.text is not None:
                    emit_text(outcome.text)
                status = max(status, outcome.exit_code)
            advance(path.name)
    return status


def _within(attempt: Callable[[Path], Outcome | BaseException],
            seconds: float) -> Callable[[Path], Outcome | BaseException]:
    """``attempt`` run in a daemon thread of its own, given up (StuckError) after ``seconds``.

    A thread cannot be killed: a stuck one is left running (it never holds up the exit)
    and the batch goes on. Ctrl-C while waiting lets the running input finish first, so
    its output is complete; a second Ctrl-C does not wait.
    """

    def bounded(path: Path) -> Outcome | BaseException:
        box: list[Outcome | BaseException] = []
        thread = threading.Thread(target=lambda: box.append(attempt(path)), daemon=True, name="wmark-input")
        thread.start()
        try:
            thread.join(seconds)
        except KeyboardInterrupt:
            thread.join()
            raise
        if thread.is_alive():
            return StuckError(f"no result after {seconds:g} s (--timeout); skipped")
        return box[0] if box else RuntimeError("the work on this input stopped without a result")

    return bounded


@contextmanager
def _executor(jobs: int, ray: str | None = None) -> Iterator[Any]:
    """A thread pool for ``jobs`` > 1, Ray actors with ``ray`` (None otherwise); pending
    work is cancelled on Ctrl-C."""
    if ray is not None:
        from .cluster import RayExecutor

        with RayExecutor(ray, jobs if jobs > 1 else None) as executor:
            yield executor
        return
    if jobs <= 1:
        yield None
        return
    pool = _ThreadPool(jobs)
    try:
        yield pool
    finally:
        pool.executor.shutdown(wait=True, cancel_futures=True)


class _ThreadPool:
    """``jobs`` threads whose ``map`` keeps two inputs a thread in flight: a batch of any
    length holds a few results at a time, never one per input."""

    def __init__(self, jobs: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.jobs = jobs
        self.executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="wmark")

    def map(self, function: Callable[[Path], Any], paths: Sequence[Path]) -> Iterator[Any]:
        """``function(path)`` for every path, in input order."""
        from collections import deque

        pending: deque = deque()
        for path in paths:
            pending.append(self.executor.submit(function, path))
            if len(pending) >= 2 * self.jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# --------------------------------------------------------------------------- outputs


def output_path_for(source: Path, output: Path | None, *, many: bool = False, suffix: str = ".wm") -> Path:
    """Where the result for ``source`` goes (the folder is created when needed).

    - no ``output``: ``NAME<suffix>.EXT`` beside the input (``photo.jpg`` → ``photo.wm.jpg``);
    - ``output`` an existing folder, or any ``output`` with ``many`` inputs: inside that
      folder, under the input's name (``NAME<suffix>.EXT`` if it is the input's own folder);
    - otherwise ``output`` itself (one input).
    """
    if output is None:
        return source.with_name(f"{source.stem}{suffix}{source.suffix}")
    if many or output.is_dir():
        ensure_folder(output, "several inputs need -o DIR")
        same_folder = os.path.realpath(source.parent) == os.path.realpath(output)
        return output / (f"{source.stem}{suffix}{source.suffix}" if same_folder else source.name)
    return output


def ensure_folder(folder: Path, hint: str = "") -> None:
    """Create ``folder`` (and its parents) if needed; OutputError when it is a file or cannot be made."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is not a folder" + (f" ({hint})" if hint else ""))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create folder {folder}: {error.strerror or error}") from None


def check_output(source: Path | None, destination: Path, *, force: bool = False) -> None:
    """Before any work: refuse to write over the input (always), over a folder, over an
    existing file (without ``force``) or into a missing folder (OutputError, exit 4).

    :func:`wmark.imageio.write_image` checks again when it writes (atomically).
    """
    from ..imageio import output_format
    from ..safefile import check_destination

    check_destination(destination, [source] if source is not None else [], force)
    output_format(destination)  # UsageError for an extension with no image format


# --------------------------------------------------------------------------- options


InputsArgument = Annotated[list[Path], typer.Argument(metavar="IN...", show_default=False,
                                                      help="Image files, folders or quoted globs.")]
OutputOption = Annotated[Optional[Path], typer.Option("--output", "-o", metavar="OUT|DIR", show_default=False,
                                                      help="Output file, or folder for several inputs.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per input on stdout.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")]
RecursiveOption = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
JobsOption = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, metavar="N",
                                         help="Photos processed at once (threads; on a GPU they share "
                                              "model passes).")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=0.01, metavar="SECONDS",
                                              help="Give up on a photo that takes longer; the others go on.")]
RayOption = Annotated[Optional[str], typer.Option("--ray", metavar="ADDRESS", show_default=False,
                                                 help="Run on Ray: local (a new local instance), auto (the running "
                                                      "cluster) or HOST:PORT; -j N: N actors. "
                                                      "Needs pip install 'wmark\\[ray]'.")]
QualityOption = Annotated[Optional[int], typer.Option("--quality", min=1, max=100, metavar="Q", show_default=False,
                                                      help="Quality of a JPEG/WebP output (default: a JPEG input's own, else 95).")]
ModelOption = Annotated[Optional[str], typer.Option("--model", metavar="NAME", show_default=False,
                                                    help="Packaged model (see `wmark models`).")]
KeyOption = Annotated[Optional[Path], typer.Option("--key", metavar="FILE", show_default=False,
                                                  help="Secret key file (`wmark keygen`): only it reads the mark.")]
MESSAGE_PANEL = "Message"
MsgOption = Annotated[Optional[str], typer.Option("--msg", metavar="TEXT", show_default=False,
                                                  help="Message text (UTF-8).", rich_help_panel=MESSAGE_PANEL)]
HexOption = Annotated[Optional[str], typer.Option("--hex", metavar="HEX", show_default=False,
                                                  help="Message bytes as hexadecimal.",
                                                  rich_help_panel=MESSAGE_PANEL)]
BitsOption = Annotated[Optional[str], typer.Option("--bits", metavar="0101…", show_default=False,
                                                   help="Raw bits, no error correction (research).",
                                                   rich_help_panel=MESSAGE_PANEL)]


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class MessageSpec:
    """The message given on the command line: ``kind`` is ``text``, ``hex`` or ``bits``.

    ``value`` is normalised: hex in lower case without spaces or ``0x``, bits as 0/1.
    """

    kind: str
    value: str

    @property
    def data(self) -> bytes | None:
        """The message bytes (UTF-8 text or decoded hex); None for raw bits."""
        if self.kind == "text":
            return self.value.encode("utf-8")
        if self.kind == "hex":
            return bytes.fromhex(self.value)
        return None


_SPACES = re.compile(r"[\s_:]+")


def message_spec(msg: str | None, hex_: str | None, bits: str | None, *,
                 required: bool = True) -> MessageSpec | None:
    """Exactly one of ``--msg/--hex/--bits``, checked for form (UsageError, exit 2).

    Capacity (too long for the model) is the payload codec's to check.
    """
    given = [(kind, value) for kind, value in (("text", msg), ("hex", hex_), ("bits", bits)) if value is not None]
    if len(given) > 1:
        raise UsageError("give only one of --msg, --hex and --bits")
    if not given:
        if required:
            raise UsageError("give the message with --msg TEXT, --hex HEX or --bits 0101…")
        return None
    kind, value = given[0]
    if kind == "text":
        if value == "":
            raise UsageError("--msg is empty")
        return MessageSpec(kind, value)
    value = _SPACES.sub("", value)
    if kind == "hex":
        value = value[2:] if value[:2].lower() == "0x" else value
        if not value or len(value) % 2 or not all(c in "0123456789abcdefABCDEF" for c in value):
            raise UsageError(f"--hex wants an even number of hexadecimal digits, got {hex_!r}")
        return MessageSpec(kind, value.lower())
    if not value or set(value) - {"0", "1"}:
        raise UsageError(f"--bits wants a string of 0 and 1, got {bits!r}")
    return MessageSpec(kind, value)


def load_key(path: Path | None) -> bytes | None:
    """The secret key of ``--key FILE`` (None without one)."""
    if path is None:
        return None
    from ..keys import read_key

    return read_key(path)
