"""Scale out with Ray Data: wmark's per-photo work in the actors of a Ray cluster.

For a pipeline of your own, give :class:`Embedder`, :class:`Extractor` or
:class:`Verifier` to ``Dataset.map_batches``. Each actor loads the model once, then
turns batches of paths (column ``path``, on a filesystem that every node sees) into
one row per path. A bad photo gives a row with ``error`` (one line) and ``exit_code``
(the CLI's status) instead of failing the job::

    import ray
    from wmark.distributed import Embedder

    paths = ray.data.from_items([{"path": p} for p in photo_paths])
    rows = paths.map_batches(Embedder, fn_constructor_kwargs={"message": "owner", "output_dir": "/mnt/marked"},
                             batch_size=16, compute=ray.data.ActorPoolStrategy(size=4), num_gpus=1)
    rows.write_parquet("/mnt/marked-report")     # path, output, psnr, skipped, error, exit_code...

:func:`map_paths` runs any per-path function the same way and gives its results back
in input order: it is what ``wmark embed|extract|verify --ray ADDRESS`` uses, so that
the cluster runs exactly the command's own per-photo work. Ray is imported only when
one of these runs; it comes with ``pip install 'wmark[ray]'``.
"""

from __future__ import annotations

import logging
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EXIT_NOT_FOUND, EXIT_OK, UsageError, WmarkError, exit_code_for
from .payload import Message

MAX_BATCH = 16  # photos per actor call in map_paths: small enough to stream and balance


def require_ray() -> Any:
    """The ``ray`` module with Ray Data; UsageError (exit 2) naming the extra when it is missing."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise UsageError(f"Ray is not installed ({error}): pip install 'wmark[ray]'") from None
    return ray


def check_address(address: str) -> str:
    """``local``, ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``; UsageError otherwise."""
    if address in ("local", "auto") or address.startswith("ray://") or address.rpartition(":")[2].isdigit():
        return address
    raise UsageError(f"a Ray address is local, auto, HOST:PORT or ray://HOST:PORT (got {address!r})")


@contextmanager
def connect(address: str = "local", *, quiet: bool = True) -> Iterator[Any]:
    """Ray for the duration of the block; yields the ``ray`` module.

    ``local`` starts a new local instance, ``auto`` joins the cluster of ``RAY_ADDRESS``
    or of ``ray start`` on this machine, ``HOST:PORT`` or ``ray://HOST:PORT`` the cluster
    there; UsageError (exit 2) when it cannot be reached. When Ray is already initialised
    in this process (a caller's own ``ray.init``), that connection is used and kept.
    ``quiet`` keeps Ray's logs, worker output and Ray Data's progress bars off stderr.
    """
    ray = require_ray()
    check_address(address)
    if quiet:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False
    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR if quiet else logging.INFO,
                 log_to_driver=not quiet)
    except Exception as error:  # ConnectionError, ValueError, RuntimeError...: all "cannot reach it"
        raise UsageError(f"cannot start or reach Ray at {address}: {' '.join(str(error).split())}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def map_paths(fn: Callable[[Path], Any], paths: Sequence[str | os.PathLike[str]], *, workers: int | None = None,
              gpus: bool | None = None, batch_size: int | None = None) -> Iterator[Any]:
    """``fn(path)`` for every path, in a pool of Ray actors; the results, in input order.

    Needs a connection (:func:`connect`). ``fn`` and its results travel by Ray's own
    serialisation (cloudpickle: a closure is fine); ``fn`` should return its errors,
    not raise them, since an exception fails the whole run. ``workers``: actors
    (default one per GPU of the cluster when it has some and ``gpus`` is not False,
    else one per CPU); each holds one GPU (``num_gpus=1``) or one CPU. Results stream
    as batches finish.
    """
    ray = require_ray()
    items = [{"index": index, "path": os.fspath(path)} for index, path in enumerate(paths)]
    if not items:
        return
    resources = ray.cluster_resources()
    use_gpus = int(resources.get("GPU", 0)) >= 1 if gpus is None else gpus
    size = workers or max(1, int(resources.get("GPU" if use_gpus else "CPU", 1)))
    batch_size = batch_size or max(1, min(MAX_BATCH, len(items) // (4 * size)))
    blocks = math.ceil(len(items) / batch_size)
    dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        _PathBatch, fn_constructor_args=(fn,), batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(size, blocks)), num_cpus=1, num_gpus=1 if use_gpus else 0)
    done: dict[int, Any] = {}
    upcoming = 0
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for index, result in zip(batch["index"].tolist(), batch["result"]):
            done[index] = result
        while upcoming in done:
            yield done.pop(upcoming)
            upcoming += 1


class _PathBatch:
    """The actor of :func:`map_paths`: ``fn`` on each path of a batch, in a column of Python objects."""

    def __init__(self, fn: Callable[[Path], Any]) -> None:
        self.fn = fn

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = np.empty(len(batch["path"]), dtype=object)  # filled one by one: a tuple stays one object
        for row, path in enumerate(batch["path"].tolist()):
            results[row] = self.fn(Path(path))
        return {"index": batch["index"], "result": results}


# --------------------------------------------------------------------------- for map_batches


class _PhotoBatch(ABC):
    """Base of the ``map_batches`` classes: the model loaded once, one row per path."""

    def __init__(self, *, model: str = "default", key: bytes | None = None, device: str = "auto",
                 max_pixels: int | None = None) -> None:
        from . import zoo
        from .imageio import DEFAULT_MAX_PIXELS

        self.model, self.key, self.device = model, key, zoo.resolve_device(device)
        self.max_pixels = DEFAULT_MAX_PIXELS if max_pixels is None else (max_pixels or None)
        zoo.load_model(model, self.device)  # cached: every photo of this actor reuses it

    @abstractmethod
    def process(self, path: Path) -> dict[str, Any]:
        """The row for one photo (without ``path``); raises for a bad one."""

    def read(self, path: Path) -> Any:
        from .imageio import read_image

        return read_image(path, max_pixels=self.max_pixels)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        rows = []
        for path in batch["path"].tolist():
            try:
                row = {"error": None, "exit_code": EXIT_OK, **self.process(Path(path))}
            except Exception as error:  # one bad photo must not fail the job
                row = {"error": _one_line(error), "exit_code": exit_code_for(error)}
            rows.append({"path": str(path), **row})
        keys = list(dict.fromkeys(key for row in rows for key in row))
        return {key: [row.get(key) for row in rows] for key in keys}


class Embedder(_PhotoBatch):
    """Marks the photos of column ``path`` with ``message``: rows ``output, psnr, bits,
    skipped, method, robust``.

    The output is ``NAME.wm.EXT`` beside the photo, or ``output_dir/NAME.EXT``; it is
    written atomically, never over an input, and an existing one is skipped unless
    ``force`` (so a re-run finishes an interrupted job). Options as :func:`wmark.embed`.
    """

    def __init__(self, message: Message | str | bytes, *, output_dir: str | os.PathLike[str] | None = None,
                 strength: float = 1.0, method: str = "auto", quality: int | None = None, force: bool = False,
                 **options: Any) -> None:
        super().__init__(**options)
        self.message, self.strength, self.method = message, strength, method
        self.quality, self.force = quality, force
        self.output_dir = Path(output_dir) if output_dir is not None else None
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)

    def destination(self, path: Path) -> Path:
        from .imageio import default_output_path

        if self.output_dir is None or os.path.realpath(self.output_dir) == os.path.realpath(path.parent):
            return default_output_path(path)
        return self.output_dir / path.name

    def process(self, path: Path) -> dict[str, Any]:
        from . import api
        from .errors import OutputExistsError
        from .imageio import output_format, output_quality, write_image

        destination = self.destination(path)
        if not self.force and os.path.lexists(destination):
            return {"output": str(destination), "skipped": True}
        image = self.read(path)
        result = api.embed(image.rgb, self.message, model=self.model, strength=self.strength, method=self.method,
                           key=self.key, device=self.device, force=self.force,
                           saved_quality=output_quality(output_format(destination), image, self.quality))
        try:
            write_image(destination, result.image, like=image, quality=self.quality, force=self.force, inputs=[path])
        except OutputExistsError:  # another job wrote it meanwhile
            return {"output": str(destination), "skipped": True}
        return {"output": str(destination), "skipped": False, "psnr": round(result.psnr, 2), "model": result.model,
                "bits": "".join(map(str, result.bits.tolist())), "method": result.method, "robust": result.robust}


class Extractor(_PhotoBatch):
    """Reads the message of the photos of column ``path``: the rows of ``wmark extract --json``
    (``exit_code`` 1 where none was found)."""

    def process(self, path: Path) -> dict[str, Any]:
        from . import api

        result = api.extract(self.read(path).rgb, model=self.model, key=self.key, device=self.device)
        return {**result.to_dict(), "exit_code": EXIT_OK if result.found else EXIT_NOT_FOUND}


class Verifier(_PhotoBatch):
    """Tests the photos of column ``path`` for ``message`` at ``fpr``: the rows of
    ``wmark verify --json`` (``exit_code`` 1 where it does not match)."""

    def __init__(self, message: Message | str | bytes, *, fpr: float = 1e-6, **options: Any) -> None:
        super().__init__(**options)
        self.message, self.fpr = message, fpr

    def process(self, path: Path) -> dict[str, Any]:
        from . import api

        result = api.verify(self.read(path).rgb, self.message, model=self.model, fpr=self.fpr, key=self.key,
                            device=self.device)
        return {**result.to_dict(), "exit_code": EXIT_OK if result.match else EXIT_NOT_FOUND}


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, WmarkError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
