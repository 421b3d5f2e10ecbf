"""Safe output files: written beside their destination, published in one step, never clobbering.

A file is written to a hidden temporary file in the destination's folder, synced, and
only then given its name (:func:`atomic_file`): a hard link that fails if another process
got there first, or with ``force`` a rename. Any failure removes the temporary file, and
Ctrl-C or SIGTERM wait for that step, so no half-written output or temporary file is left.
A process that must end while other threads write (the command line after Ctrl-C) first
waits for those writes (:func:`wait_for_writes`).
:func:`check_destination` says beforehand whether a path may be written at all.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError, OutputExistsError


@contextmanager
def atomic_file(path: str | os.PathLike[str], force: bool = False) -> Iterator[BinaryIO]:
    """A new file that takes the name ``path`` only when complete.

    The block writes the yielded stream (a hidden temporary file beside ``path``); at its
    end the file is synced and published (never over an existing ``path`` without
    ``force``: OutputExistsError). Any failure removes it; Ctrl-C and SIGTERM wait until
    it is published or removed. OSErrors become OutputError.
    """
    path = Path(path)
    with _signals_held(), _counted():
        try:
            handle, temporary = tempfile.mkstemp(prefix=hidden_prefix(path), suffix=".tmp", dir=path.parent)
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
        try:
            with os.fdopen(handle, "w+b") as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o666 & ~_umask())
            _publish(temporary, path, force)
        except BaseException as error:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            if isinstance(error, OSError):
                raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
            raise


_writing = 0  # atomic files open in this process, in any thread
_writes_changed = threading.Condition()


@contextmanager
def _counted() -> Iterator[None]:
    """Count the block as one write in flight (:func:`wait_for_writes`)."""
    global _writing
    with _writes_changed:
        _writing += 1
    try:
        yield
    finally:
        with _writes_changed:
            _writing -= 1
            _writes_changed.notify_all()


def wait_for_writes(timeout: float | None = None) -> bool:
    """Wait until no :func:`atomic_file` is open in this process (each published or removed);
    False when some still is after ``timeout`` seconds."""
    with _writes_changed:
        return _writes_changed.wait_for(lambda: _writing == 0, timeout)


def hidden_prefix(path: Path) -> str:
    """``.NAME.`` for the temporary file beside ``path``, cut so that the whole temporary
    name stays under the usual 255-byte limit when ``NAME`` itself fits."""
    name = os.fsencode(path.name)
    if len(name) > 200:
        name = name[:180] + hashlib.sha256(name).hexdigest()[:8].encode()
    return "." + os.fsdecode(name) + "."


def _publish(temporary: str, path: Path, force: bool) -> None:
    """Give the complete ``temporary`` its final name ``path`` in one step.

    With ``force`` it replaces any file there. Without, a hard link is made, which fails
    if ``path`` exists even when another process wrote it a moment ago (OutputExistsError);
    where hard links are not supported, a check and a rename (a small race remains).
    """
    if force:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise OutputExistsError(f"{path} already exists (use --force to overwrite it)") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(path):
            raise OutputExistsError(f"{path} already exists (use --force to overwrite it)") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then act on them (main thread only).

    Ctrl-C then never leaves a temporary file behind, nor interrupts a rename; the block
    is one file's encoding and rename. Elsewhere (worker threads) signals never arrive.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved = {}
    for number in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if number is not None and signal.getsignal(number) is not None:
            saved[number] = signal.signal(number, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
        if caught:
            handler = saved[caught[0]]
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(caught[0])


def check_destination(path: Path, inputs: Iterable[str | os.PathLike[str]], force: bool) -> None:
    """OutputError unless ``path`` may be written: not one of ``inputs``, not a folder, not an
    existing file (without ``force``), in an existing folder."""
    # os.path's functions, not Path's: they never raise (symbolic link loops, names too long)
    target = os.path.realpath(path)
    for source in inputs:
        same = os.path.realpath(source) == target
        if not same and os.path.exists(source) and os.path.exists(path):
            try:
                same = os.path.samefile(source, path)
            except OSError:
                same = False
        if same:
            raise OutputError(f"{path} is an input: wmark never overwrites its input")
    if os.path.isdir(path):
        raise OutputError(f"{path} is a folder, not an output file")
    if os.path.lexists(path) and not force:
        raise OutputExistsError(f"{path} already exists (use --force to overwrite it)")
    parent = path.parent
    if not os.path.isdir(parent):
        raise OutputError(f"cannot write {path}: folder {parent} does not exist")


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
