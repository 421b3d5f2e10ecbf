"""wmark's command line: one Typer app, thin over the library.

- what every command shares, one module a concept: :mod:`.settings` (the global
  options), :mod:`.printing` (stdout records, stderr notes, error lines, progress),
  :mod:`.files` (inputs and outputs), :mod:`.options` (shared options, the message),
  :mod:`.runner` (the per-input loop and where it runs: threads, Ray via :mod:`.cluster`);
- one module per command registers it with ``register(app)``;
- errors are mapped to exit codes in one place, :class:`WmarkGroup`: a
  :class:`~wmark.errors.WmarkError` exits with its own code after one ``error: ...``
  line, Ctrl-C with 130, an unexpected exception (a bug) with 1 after one line
  (``--debug`` or ``WMARK_DEBUG=1`` adds the traceback), and a bad option or argument
  found by the parser with 2 after one line.

Nothing heavy is imported at module level: torch, OpenCV and NumPy load inside the
commands that need them, so that ``wmark --help`` answers fast.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup

from .. import __version__
from ..errors import EXIT_INTERRUPTED, EXIT_USAGE
from . import attack as _attack
from . import bench as _bench
from . import completions as _completions
from . import embed as _embed
from . import extract as _extract
from . import keygen as _keygen
from . import models as _models
from .printing import echo_err, report_error
from .settings import Settings

from typer import Abort, Exit

try:  # typer >= 0.16 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - typer on top of click
    from click.exceptions import ClickException

PROG = _completions.PROG


class WmarkGroup(TyperGroup):
    """The root group: the one place where errors become exit codes and one-line messages."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (Exit, Abort, ClickException):
            raise
        except OSError as error:
            if error.errno == errno.EPIPE:  # the reader went away (| head): typer exits quietly
                raise
            raise Exit(report_error(error)) from None
        except (Exception, KeyboardInterrupt) as error:
            raise Exit(report_error(error)) from None

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """Click's main, with parser errors printed as one ``error: ...`` line (exit 2)."""
        try:
            result = super().main(args, prog_name or PROG, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except ClickException as error:
            code = _report_click_error(error)
        except Abort:
            echo_err("error: interrupted")
            code = EXIT_INTERRUPTED
        if not standalone_mode:
            return code
        sys.exit(code)


def _report_click_error(error: ClickException) -> int:
    if type(error).__name__ == "NoArgsIsHelpError":  # bare `wmark`: the help, already printed by rich
        message = error.format_message()
        if message:
            sys.stdout.write(message + "\n")
        return EXIT_USAGE
    message = " ".join(error.format_message().split())
    ctx = getattr(error, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    echo_err(f"error: {message}{hint}")
    return error.exit_code


app = typer.Typer(
    name=PROG,
    cls=WmarkGroup,
    help="Hide a short, error-corrected message in a photo and read it back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"wmark {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", envvar="WMARK_DEBUG",
                                        help="Show the traceback of an error.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes on stderr.")] = False,
    max_pixels: Annotated[Optional[int], typer.Option(
        "--max-pixels", min=0, metavar="N", show_default=False,
        help="Largest input decoded, in pixels (default 100 MP or $WMARK_MAX_PIXELS; 0: no limit).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Hide a short, error-corrected message in a photo and read it back.

    Exit codes: 0 ok, 1 no watermark found, 2 usage error, 3 unreadable input,
    4 output problem, 5 model problem, 6 mark refused (already marked, or --strict
    self-check failed), 130 interrupted (Ctrl-C or SIGTERM).
    """
    ctx.obj = Settings(debug=debug, quiet=quiet, max_pixels=max_pixels)


# One line per command module; each module's register(app) adds its command.
_embed.register(app)
_extract.register(app)
_attack.register(app)
_bench.register(app)
_models.register(app)
_keygen.register(app)
_completions.register(app)


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (``wmark``); ``python -m wmark`` too.

    SIGTERM is handled like Ctrl-C: the inputs in flight stop or finish, the file being
    written is completed or removed, exit 130 (:mod:`wmark.cli.runner`, :func:`_exit`).
    """
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminated)
    code: Any = 0
    try:
        _completions.answer_tab_if_asked()
        app(args=list(argv) if argv is not None else None, prog_name=PROG)
    except SystemExit as done:
        code = done.code
    except KeyboardInterrupt:  # before or after a command ran (start-up, imports)
        echo_err("error: interrupted")
        code = EXIT_INTERRUPTED
    _exit(code)


WRITE_GRACE = 60.0  # seconds _exit waits for the outputs still being written by other threads


def _exit(code: Any) -> NoReturn:
    """Leave with ``code`` (a SystemExit code); a Ctrl-C or SIGTERM from here on is noted, not
    raised (the run is over: no traceback), and only cuts short the wait below.

    Where threads of the batch runner still run work (an input given up by ``--timeout``,
    one still in flight after a second Ctrl-C), an ordinary exit would tear torch's and
    OpenCV's native state down under them (``terminate called without an active
    exception``, SIGABRT). Then, once the outputs being written are whole or removed
    (:func:`wmark.safefile.wait_for_writes`, up to :data:`WRITE_GRACE` s) and stdout and
    stderr are flushed, the process ends at once.
    """
    late: list[int] = []
    for number in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if number is not None:
            signal.signal(number, lambda signum, frame: late.append(signum))
    from ..safefile import wait_for_writes
    from .runner import busy_threads

    if not busy_threads():
        sys.exit(code)
    if isinstance(code, str):
        echo_err(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    sys.stdout = sys.stderr = open(os.devnull, "w")  # the last line said is the run's own (error: ...)
    deadline = time.monotonic() + WRITE_GRACE
    while not wait_for_writes(0.1) and not late and time.monotonic() < deadline:
        pass
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
