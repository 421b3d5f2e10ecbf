"""``wmark keygen``: a new secret key file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import ForceOption
from .printing import note


def keygen(
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Key file to create (mode 0600).")],
    force: ForceOption = False,
) -> None:
    """Make a secret key (128 random bits): marks embedded with --key FILE read back only with it."""
    from ..keys import generate_key, write_key

    write_key(output, generate_key(), force=force)
    note(f"wrote {output}: keep it secret, and keep a copy; marks made with it cannot be read without it")


def register(app: typer.Typer) -> None:
    app.command("keygen")(keygen)
