"""``--ray ADDRESS``: :func:`~wmark.cli.runner.run_per_input` schedules its per-path work on Ray.

The command's own ``work`` closure travels to the actors (:func:`wmark.distributed.map_paths`),
so outputs, records and exit statuses are those of the single-machine run. In the
actors it sees the command's settings (``--quiet``, ``--max-pixels``) and working
folder (relative paths); what it prints on stderr (notes) comes back with its outcome
and is printed here, in input order.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import ExitStack, redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .printing import echo_err
from .settings import Settings, settings, use_settings


@dataclass
class _Remote:
    """``attempt(path)`` in an actor, under the command's settings and working folder."""

    attempt: Callable[[Path], Any]
    settings: Settings
    cwd: str

    def __call__(self, path: Path) -> tuple[Any, str]:
        use_settings(self.settings)
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)  # the same shared folder on every node
        notes = io.StringIO()
        with redirect_stderr(notes):
            outcome = self.attempt(path)
        try:
            pickle.dumps(outcome)
        except Exception:  # an exception that cannot travel: its message does
            outcome = RuntimeError(f"{type(outcome).__name__}: {outcome}")
        return outcome, notes.getvalue()


class RayExecutor:
    """A context manager like a thread pool: ``map(attempt, paths)`` runs on the Ray cluster
    at ``address``; ``workers`` actors (None: one per CPU, or per GPU on a GPU cluster)."""

    def __init__(self, address: str, workers: int | None = None) -> None:
        self.address, self.workers = address, workers
        self._stack = ExitStack()
        self._runs: list[Generator[Any, None, None]] = []

    def __enter__(self) -> RayExecutor:
        from ..distributed import connect

        terminate = signal.getsignal(signal.SIGTERM)
        self._stack.enter_context(connect(self.address))
        if terminate is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, terminate)  # ray.init sets its own: sys.exit(15), not the CLI's 130
        return self

    def __exit__(self, *exc: object) -> None:
        for run in self._runs:  # a run left early (ModelError, Ctrl-C) stops before Ray does
            run.close()
        self._stack.close()

    def map(self, attempt: Callable[[Path], Any], paths: Sequence[Path]) -> Iterator[Any]:
        """``attempt(path)`` for every path, in input order; notes printed as they come."""
        run = self._run(_Remote(attempt, settings(), os.getcwd()), paths)
        self._runs.append(run)
        return run

    def _run(self, remote: _Remote, paths: Sequence[Path]) -> Generator[Any, None, None]:
        from ..distributed import map_paths

        for outcome, notes in map_paths(remote, paths, workers=self.workers):
            for line in notes.splitlines():
                echo_err(line)
            yield outcome
