"""The batch runner: a command's work on every input, and where that work runs.

A new command (``embed``, ``extract``, ...) is usually::

    def extract(inputs: InputsArgument, json_output: JsonOption = False, recursive: RecursiveOption = False):
        paths = expand_inputs(inputs, recursive=recursive)
        def work(path):            # raise a WmarkError for a bad input
            ...
            return Outcome({"found": True, ...}, text="...", exit_code=0)
        raise typer.Exit(run_per_input(paths, work, json_output=json_output, label="extract"))

:func:`run_per_input` reports a bad input and goes on. Where the work runs is chosen
here too (:func:`executor`): in this thread, in ``--jobs N`` threads, or in Ray actors
with ``--ray`` (:class:`wmark.cli.cluster.RayExecutor`); with ``--timeout`` each input
runs in a thread of its own (:func:`within`).

Interruption (Ctrl-C or SIGTERM, a KeyboardInterrupt in the main thread): the run is
marked as stopping, the inputs in flight stop at their next safe
point (:func:`raise_if_stopping`, e.g. between two ISMark iterations) or finish, an
output being written is completed or removed (:mod:`wmark.safefile`), and only then
does the KeyboardInterrupt go on to the command line (exit 130). A second Ctrl-C stops
waiting; :func:`wmark.cli.main` then ends the process once the writes in flight are done.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, ModelError, StuckError
from .printing import emit_json, emit_text, error_message, progress_bar, report_error

INPUT_THREAD = "wmark-input"  # the thread that runs one input within --timeout
POOL_THREAD = "wmark-pool"  # the threads of --jobs N

_stopping = threading.Event()  # set while a run is being interrupted


@dataclass
class Outcome:
    """What one input gave: its JSON record, its human line (stdout) and its exit status."""

    record: dict[str, Any]
    text: str | None = None
    exit_code: int = EXIT_OK


def _stop() -> None:
    """Mark the run as stopping. (A module function, so that the closures that call it travel
    to Ray actors by reference: an Event holds a lock, which does not pickle.)"""
    _stopping.set()


def busy_threads() -> list[threading.Thread]:
    """The threads of this module still running work (an input given up by ``--timeout``, or
    one still in flight after a second Ctrl-C). Listed while they run, whatever ``is_alive``
    says: in Python 3.11 an interrupted ``join`` marks a running thread as stopped."""
    return [thread for thread in threading.enumerate() if thread.name.startswith((INPUT_THREAD, POOL_THREAD))]


def raise_if_stopping() -> None:
    """KeyboardInterrupt when the run has been interrupted: a safe point for long work on one
    input (ISMark calls it between iterations, through the command's progress callback)."""
    if _stopping.is_set():
        raise KeyboardInterrupt


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
    address, :data:`wmark.cli.options.RayOption`) runs ``work`` in Ray actors instead,
    ``jobs`` > 1 of them. ``timeout``: seconds one input may take before it is reported
    (StuckError, exit 3) and the run goes on without it (:func:`within`). Returns 0 when
    every input succeeded, else the highest status met.
    """

    def attempt(path: Path) -> Outcome | BaseException:
        raise_if_stopping()  # an input not started yet when the run was interrupted
        try:
            outcome = work(path)
        except Exception as error:  # one bad file must not stop the run
            return error
        return outcome if isinstance(outcome, Outcome) else Outcome(dict(outcome))

    if timeout is not None:
        attempt = within(attempt, timeout)

    _stopping.clear()
    status = EXIT_OK
    with progress_bar(len(paths), label, quiet=quiet) as advance, executor(jobs, ray) as pool:
        try:
            results = pool.map(attempt, paths) if pool is not None else map(attempt, paths)
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
        except BaseException:  # Ctrl-C: the inputs in flight stop before the executor is closed
            _stop()
            raise
    return status


def within(attempt: Callable[[Path], Outcome | BaseException],
           seconds: float) -> Callable[[Path], Outcome | BaseException]:
    """``attempt`` run in a daemon thread of its own, given up (StuckError) after ``seconds``.

    A thread cannot be killed: a stuck one is left running and the batch goes on
    (:func:`wmark.cli.main` does not let it hold up the exit). Ctrl-C while waiting marks
    the run as stopping and waits for the input to stop or finish, so that its output is
    whole or absent; a second Ctrl-C does not wait. The wait is on an Event, not
    ``Thread.join``: in Python 3.11 a join interrupted by Ctrl-C marks a running thread as
    stopped, and a second join then returns at once.
    """

    def bounded(path: Path) -> Outcome | BaseException:
        box: list[Outcome | BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                box.append(attempt(path))
            except BaseException as error:  # KeyboardInterrupt from raise_if_stopping
                box.append(error)
            finally:
                done.set()

        threading.Thread(target=run, daemon=True, name=INPUT_THREAD).start()
        try:
            finished = done.wait(seconds)
        except KeyboardInterrupt:
            _stop()
            done.wait()
            raise
        if not finished:
            return StuckError(f"no result after {seconds:g} s (--timeout); skipped")
        if isinstance(box[0], KeyboardInterrupt):  # the run was stopped from another thread
            raise box[0]
        return box[0]

    return bounded


@contextmanager
def executor(jobs: int, ray: str | None = None) -> Iterator[Any]:
    """Where :func:`run_per_input` runs its work: a thread pool for ``jobs`` > 1, Ray actors
    with ``ray``, None (this thread) otherwise. On the way out, pending work is cancelled
    and the work in flight is waited for."""
    if ray is not None:
        from .cluster import RayExecutor

        with RayExecutor(ray, jobs if jobs > 1 else None) as pool:
            yield pool
        return
    if jobs <= 1:
        yield None
        return
    pool = ThreadPool(jobs)
    try:
        yield pool
    finally:
        pool.executor.shutdown(wait=True, cancel_futures=True)


class ThreadPool:
    """``jobs`` threads whose ``map`` keeps two inputs a thread in flight: a batch of any
    length holds a few results at a time, never one per input."""

    def __init__(self, jobs: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.jobs = jobs
        self.executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=POOL_THREAD)

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
