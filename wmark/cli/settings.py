"""The run's global options (``wmark --debug --quiet --max-pixels N CMD``), for every command.

Typer keeps them on the root context's ``obj``; a Ray actor, which has no context, is
handed the command's own with :func:`use_settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

try:  # typer >= 0.16 vendors click
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - typer on top of click
    from click import get_current_context


@dataclass
class Settings:
    """Global options (``wmark --debug --quiet CMD``), kept on the root context's ``obj``."""

    debug: bool = field(default_factory=lambda: os.environ.get("WMARK_DEBUG", "") not in ("", "0"))
    quiet: bool = False
    max_pixels: int | None = None  # --max-pixels N (0: no limit); None: WMARK_MAX_PIXELS or 100 MP


_detached: Settings | None = None  # a command's settings in a Ray actor, which has no context


def settings() -> Settings:
    """The current run's :class:`Settings` (the defaults outside a command)."""
    ctx = get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, Settings):
        return root.obj
    return _detached or Settings()


def use_settings(value: Settings | None) -> None:
    """Make ``value`` the settings of work that runs outside any command (a Ray actor)."""
    global _detached
    _detached = value
