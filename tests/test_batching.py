"""Shared model passes (wmark.batching): concurrent calls run as one pass, with the same results."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from wmark import zoo
from wmark.batching import Batcher, BatchedModel

from helpers import invoke, records


def _concurrently(function, arguments):
    """``function(argument)`` for each argument in threads of its own (no gradients, as in
    the library's inference), all released at once."""
    barrier = threading.Barrier(len(arguments))
    results: list = [None] * len(arguments)

    def run(index):
        barrier.wait()
        try:
            with torch.no_grad():  # grad mode is per thread
                results[index] = function(arguments[index])
        except Exception as error:  # noqa: BLE001 - handed back to the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(arguments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _slow_double(x: torch.Tensor) -> torch.Tensor:
    time.sleep(0.05)  # long enough for the other threads to queue behind the first pass
    return x * 2


def test_concurrent_calls_share_passes_and_get_their_own_rows():
    batcher = Batcher(_slow_double)
    inputs = [torch.full((1 + i % 3, 4), float(i)) for i in range(8)]
    outputs = _concurrently(batcher, inputs)
    for x, y in zip(inputs, outputs):
        assert torch.equal(y, x * 2)
    assert 1 <= batcher.passes < len(inputs)  # 8 calls, fewer passes


def test_a_pass_holds_at_most_max_rows():
    sizes: list[int] = []

    def record(x):
        sizes.append(x.shape[0])
        return _slow_double(x)

    batcher = Batcher(record, max_rows=4)
    outputs = _concurrently(batcher, [torch.ones(3, 2) * i for i in range(6)])
    assert all(torch.equal(y, torch.ones(3, 2) * i * 2) for i, y in enumerate(outputs))
    assert max(sizes) <= 4 and sum(sizes) == 18


def test_an_error_reaches_every_caller_of_its_pass_and_the_batcher_goes_on():
    def fail_on_negative(x):
        time.sleep(0.05)
        if (x < 0).any():
            raise ValueError("negative")
        return x

    batcher = Batcher(fail_on_negative)
    outputs = _concurrently(batcher, [torch.ones(1, 2), -torch.ones(1, 2), torch.ones(1, 2)])
    assert any(isinstance(y, ValueError) for y in outputs)
    with torch.no_grad():  # later passes unaffected
        assert torch.equal(batcher(torch.ones(1, 2)), torch.ones(1, 2))


def test_calls_that_record_gradients_bypass_the_queue():
    batcher = Batcher(lambda x: x * 3)
    x = torch.ones(2, 2, requires_grad=True)
    batcher(x).sum().backward()
    assert torch.equal(x.grad, torch.full((2, 2), 3.0))
    assert batcher.passes == 0


def test_a_batched_model_gives_the_models_results(tiny_model):
    batched = BatchedModel(tiny_model)
    size, bits = tiny_model.cfg.size, tiny_model.cfg.bits
    covers = [torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    messages = [torch.randint(0, 2, (1, bits), generator=torch.Generator().manual_seed(i)).float() for i in range(4)]
    residuals = _concurrently(lambda pair: batched.residual(*pair), list(zip(covers, messages)))
    logits = _concurrently(batched.decoder, covers)
    for cover, message, residual, logit in zip(covers, messages, residuals, logits):
        assert not isinstance(residual, Exception) and not isinstance(logit, Exception)
        assert torch.allclose(residual, tiny_model.residual(cover, message), atol=1e-5)
        assert torch.allclose(logit, tiny_model.decoder(cover), atol=1e-4)
    assert batched.cfg is tiny_model.cfg and batched.amplitude == tiny_model.amplitude


@pytest.fixture
def batched_on_cpu(monkeypatch):
    """zoo.load_model hands out batched models on the CPU too (as it does on a GPU)."""
    monkeypatch.setattr("wmark.batching.BATCHED_DEVICES", frozenset({"cpu"}))
    zoo.forget_loaded()
    yield
    zoo.forget_loaded()


def _embed_and_extract(inputs: list[Path], out: Path, jobs: int) -> tuple[list[dict], list[np.ndarray]]:
    from PIL import Image

    embedded = invoke("embed", *inputs, "--msg", "owner", "--method", "encoder", "--device", "cpu",
                      "-o", out, "-j", jobs, "--json")
    assert embedded.exit_code == 0, embedded.output
    outputs = sorted(out.iterdir())
    extracted = invoke("extract", *outputs, "--device", "cpu", "-j", jobs, "--json")
    assert extracted.exit_code == 0, extracted.output
    return records(extracted), [np.asarray(Image.open(path).convert("RGB"), dtype=np.int16) for path in outputs]


def test_cli_batch_through_shared_passes_matches_one_photo_at_a_time(tmp_path, kodak_paths, batched_on_cpu):
    from PIL import Image

    inputs = []
    for i in range(6):  # six different photos: crops of the three Kodak ones
        with Image.open(kodak_paths[i % 3]) as image:
            path = tmp_path / f"in{i}.png"
            image.crop((i * 8, 0, i * 8 + 160, 160)).save(path)
            inputs.append(path)
    found, marked = _embed_and_extract(inputs, tmp_path / "batched", jobs=4)
    model = zoo.load_model(zoo.DEFAULT_MODEL, "cpu")
    assert isinstance(model, BatchedModel) and model.decoder.passes > 0
    zoo.forget_loaded()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("wmark.batching.BATCHED_DEVICES", frozenset())
        found_alone, marked_alone = _embed_and_extract(inputs, tmp_path / "alone", jobs=1)
    assert [r["message"] for r in found] == ["owner"] * 6 == [r["message"] for r in found_alone]
    for a, b in zip(marked, marked_alone):  # float sums in another order: at most one level apart
        assert np.abs(a - b).max() <= 1
