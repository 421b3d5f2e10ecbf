"""What commands print: results on stdout, notes, errors and progress on stderr.

Conventions (DESIGN.md, "The command line"): machine output goes to stdout only
(:func:`emit_json`, :func:`emit_text`), one flushed write a line; human notes, errors
and the progress bar go to stderr (:func:`echo_err`, :func:`note`, :func:`progress_bar`);
an error is one ``error: ...`` line (:func:`report_error`) whose exit status comes from
:func:`wmark.errors.exit_code_for`, the one mapping.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import WmarkError, exit_code_for
from .settings import settings

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
