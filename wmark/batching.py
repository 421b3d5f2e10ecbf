"""Shared model passes: photos processed at once (``--jobs N``) go through the network together.

On a GPU one pass over a batch costs little more than a pass over one image, so the
threads of a batch run hand their working-size tensors to a :class:`Batcher`: the
first caller to reach the device takes every request queued at that moment (up to a
row limit), runs one pass and hands each caller its rows back, while the requests
that arrive meanwhile queue for the next pass. Nobody waits for company: with one
thread every pass holds one photo, as without batching. Calls that record gradients
(ISMark's optimisation) bypass the queue.

:func:`wmark.zoo.load_model` returns a :class:`BatchedModel` on the devices in
:data:`BATCHED_DEVICES`; everything but ``decoder`` and ``residual`` is the model's own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

BATCHED_DEVICES = frozenset({"cuda", "mps"})
MAX_ROWS = 64  # images in one pass (a sync search sends 16 views of a photo as one request)


@dataclass(eq=False)
class _Request:
    inputs: tuple[torch.Tensor, ...]
    result: torch.Tensor | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Batcher:
    """``function`` (tensors batched along dim 0 -> one tensor) shared by threads: concurrent
    calls are run as one call on their concatenated inputs."""

    def __init__(self, function: Callable[..., torch.Tensor], max_rows: int = MAX_ROWS) -> None:
        self.function = function
        self.max_rows = max_rows
        self.passes = 0  # calls of ``function`` made, for tests and benchmarks
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self._device_lock = threading.Lock()

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():  # a graph must stay the caller's own
            return self.function(*inputs)
        request = _Request(inputs)
        with self._queue_lock:
            self._queue.append(request)
        while not request.done.is_set():
            with self._device_lock:
                if not request.done.is_set():
                    self._run(self._take())
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _take(self) -> list[_Request]:
        """The queued requests of the next pass: in arrival order, at most ``max_rows`` rows
        (at least one request)."""
        with self._queue_lock:
            taken, rows = [], 0
            for request in self._queue:
                size = request.inputs[0].shape[0]
                if taken and rows + size > self.max_rows:
                    break
                taken.append(request)
                rows += size
            del self._queue[:len(taken)]
        return taken

    def _run(self, batch: list[_Request]) -> None:
        try:
            joined = [torch.cat(parts) if len(batch) > 1 else parts[0] for parts in zip(*(r.inputs for r in batch))]
            output = self.function(*joined)
            self.passes += 1
            parts = output.split([r.inputs[0].shape[0] for r in batch])
            for request, part in zip(batch, parts):
                request.result = part
        except BaseException as error:  # every caller of the pass gets the error
            for request in batch:
                request.error = error
        finally:
            for request in batch:
                request.done.set()


class BatchedModel:
    """A :class:`~wmark.models.network.WatermarkModel` whose ``decoder`` and ``residual``
    are :class:`Batcher` s; every other attribute is the model's."""

    def __init__(self, model: Any, max_rows: int = MAX_ROWS) -> None:
        self.model = model
        self.decoder = Batcher(model.decoder, max_rows)
        self.residual = Batcher(model.residual, max_rows)

    def __getattr__(self, name: str) -> Any:  # only called for what is not set here
        return getattr(self.model, name)

    def to(self, *args: Any, **kwargs: Any) -> BatchedModel:
        self.model.to(*args, **kwargs)
        return self

    def eval(self) -> BatchedModel:
        self.model.eval()
        return self

    def __repr__(self) -> str:
        return f"BatchedModel({self.model.__class__.__name__}, max_rows={self.decoder.max_rows})"
