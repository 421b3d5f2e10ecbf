"""``wmark completions``: bash, zsh and fish scripts generated from the CLI itself.

The scripts are small: at each TAB they run ``wmark`` with ``_WMARK_COMPLETE`` set, and
the CLI answers from its own commands and options, so that a new option completes
without regenerating them. ``completions/`` in the repository holds the three scripts
(``wmark completions --write completions/``; a test checks they are current).
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import OutputError, UsageError
from .printing import note

PROG = "wmark"
COMPLETE_VAR = "_WMARK_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
COMPLETION_FILES = {"bash": "wmark.bash", "zsh": "_wmark", "fish": "wmark.fish"}


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell) + "\n"


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completions(
    shell: Annotated[Optional[Shell], typer.Argument(help="bash, zsh or fish.", show_default=False)] = None,
    write: Annotated[Optional[Path], typer.Option("--write", metavar="DIR", show_default=False,
                                                  help="Write all three scripts into DIR (e.g. completions/).")] = None,
) -> None:
    """Print a shell completion script, e.g. [b]wmark completions bash > ~/.local/share/bash-completion/completions/wmark[/b]."""
    if write is not None:
        if shell is not None:
            raise UsageError("give a shell or --write DIR, not both")
        try:
            write.mkdir(parents=True, exist_ok=True)
            for name in SHELLS:
                (write / COMPLETION_FILES[name]).write_text(completion_script(name), encoding="utf-8")
        except OSError as error:
            raise OutputError(f"cannot write completions into {write}: {error.strerror or error}") from None
        note(f"wrote {', '.join(str(write / COMPLETION_FILES[name]) for name in SHELLS)}")
        return
    if shell is None:
        raise UsageError("name the shell: wmark completions bash|zsh|fish")
    sys.stdout.write(completion_script(shell.value))
    sys.stdout.flush()


def answer_tab_if_asked() -> None:
    """When a completion script is asking (``_WMARK_COMPLETE`` set), switch on Typer's
    completion classes so that the CLI answers it."""
    import os

    if os.environ.get(COMPLETE_VAR):
        from typer._completion_classes import completion_init

        completion_init()


def register(app: typer.Typer) -> None:
    app.command("completions")(completions)
