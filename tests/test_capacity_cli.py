"""Capacity through the CLI: `wmark models` in bytes and characters, a too-long message named
with the models that would hold it, `--model` picking one, compact text end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wmark.errors import EXIT_MODEL, EXIT_USAGE
from helpers import invoke, records


@pytest.fixture
def two_zoo(tmp_path_factory, tiny_model, monkeypatch):
    """Two tiny random models: ``tiny`` (64 bits, the default) and ``wide`` (256 bits, 128x128 in
    16-pixel patches: untrained, its spread code reads a clean mark of that many bits back)."""
    import torch

    from conftest import TINY_MODEL
    from wmark import zoo
    from wmark.models.network import ModelConfig, WatermarkModel

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    wide = WatermarkModel(ModelConfig(**{**TINY_MODEL, "bits": 256, "size": 128, "patch": 16})).eval()
    entries = {}
    for name, net in (("tiny", tiny_model), ("wide", wide)):
        path = folder / f"{name}.pt"
        torch.save({"config": net.cfg.to_dict(), "state_dict": net.state_dict()}, path)
        entries[name] = zoo.ZooEntry(name=name, version=1, file=path.name, sha256=zoo.sha256_of(path),
                                     bits=net.cfg.bits, size=net.cfg.size, summary="random weights, for tests")
    monkeypatch.setenv("WMARK_MODELS_DIR", str(folder))
    monkeypatch.setattr(zoo, "MODELS", entries)
    zoo.forget_loaded()
    yield entries
    zoo.forget_loaded()


@pytest.fixture
def photo(tmp_path: Path, kodak_path: Path) -> Path:
    return Path(shutil.copy(kodak_path, tmp_path / "photo.png"))


def test_models_shows_capacity_in_bytes_and_characters(two_zoo, monkeypatch):
    from wmark import zoo

    raw_only = zoo.ZooEntry(name="raw16", version=1, file="raw16.pt", sha256="0" * 64, bits=16, size=64,
                            summary="too few bits for a message")
    monkeypatch.setattr(zoo, "MODELS", {**two_zoo, "raw16": raw_only})
    result = invoke("models", "--json")
    assert result.exit_code == 0, result.output
    tiny, wide, raw16 = records(result)
    assert (tiny["max_bytes"], tiny["max_chars"], tiny["correctable_symbols"]) == (3, {"lower": 4, "ascii": 3}, 3)
    assert (wide["max_bytes"], wide["max_chars"], wide["correctable_symbols"]) == (16, {"lower": 25, "ascii": 20}, 9)
    assert (raw16["max_bytes"], raw16["max_chars"]) == (0, {"lower": 0, "ascii": 0})
    text = invoke("models").stdout
    assert ("wide: 256 raw bits, 16 bytes after Reed-Solomon (9 symbols correctable) or 20 characters of plain "
            "ASCII (25 of a-z 0-9 -./@ and space), 128x128") in text
    assert "raw16: 16 raw bits, raw bits only" in text


def test_a_too_long_message_names_the_models_that_hold_it(two_zoo, photo, tmp_path):
    out = tmp_path / "out"
    result = invoke("embed", photo, photo, "--msg", "(c) J. Doe 2026", "-o", out)
    assert result.exit_code == EXIT_USAGE and not out.exists()
    line = ("message is 15 bytes; model 'tiny' holds at most 3; 'wide' holds 16 (20 characters): "
            "use --model wide")
    assert line in result.stderr and result.stderr.count("message is 15 bytes") == 1  # once, before any photo
    lower = invoke("embed", photo, "--msg", "j.doe@example.org.uk")
    assert lower.exit_code == EXIT_USAGE
    assert ("model 'tiny' holds at most 3 (4 characters of a-z 0-9 -./@ and space); 'wide' holds 16 "
            "(25 characters): use --model wide") in lower.stderr
    nobody = invoke("embed", photo, "--msg", "é" * 20)
    assert nobody.exit_code == EXIT_USAGE and "holds at most 3; no packaged model holds it" in nobody.stderr
    bits = invoke("embed", photo, "--bits", "01" * 128)
    assert bits.exit_code == EXIT_USAGE
    assert "bits are 256 long; the model takes exactly 64; 'wide' takes 256: use --model wide" in bits.stderr
    named = invoke("verify", photo, "--msg", "(c) J. Doe 2026", "--model", "tiny")
    assert named.exit_code == EXIT_USAGE and "use --model wide" in named.stderr


def test_model_picks_one_and_an_unknown_one_is_refused_first(two_zoo, photo, tmp_path):
    missing = tmp_path / "missing.png"
    unknown = invoke("embed", missing, "--msg", "x", "--model", "nope")
    assert unknown.exit_code == EXIT_MODEL and "unknown model 'nope' (packaged: tiny, wide)" in unknown.stderr
    marked = tmp_path / "marked.png"
    made = invoke("embed", photo, "--msg", "(c) J. Doe 2026", "--model", "wide", "-o", marked, "--json",
                  "--method", "encoder", "--device", "cpu")
    assert made.exit_code == 0, made.output
    assert records(made)[0]["model"] == "wide" and len(records(made)[0]["bits"]) == 256
    found = invoke("extract", marked, "--model", "wide", "--json", "--device", "cpu")
    assert found.exit_code == 0, found.output
    assert records(found)[0]["message"] == "(c) J. Doe 2026" and records(found)[0]["model"] == "wide"


def test_compact_text_end_to_end(two_zoo, photo, tmp_path):
    """20 lower-case characters: more than the 16 bytes 256 bits hold, written compact."""
    from wmark.payload import Message, form

    text = "j.doe@example.org.uk"
    assert form(Message.from_text(text), 256) == "lower"
    marked = tmp_path / "marked.png"
    made = invoke("embed", photo, "--msg", text, "--model", "wide", "-o", marked, "--method", "encoder",
                  "--device", "cpu")
    assert made.exit_code == 0, made.output
    found = invoke("extract", marked, "--json", "--device", "cpu")  # the default reads with every model
    assert found.exit_code == 0, found.output
    (record,) = records(found)
    assert record["message"] == text and record["model"] == "wide" and record["hex"] == text.encode().hex()
    assert invoke("verify", marked, "--msg", text, "--model", "wide", "--device", "cpu").exit_code == 0


def test_verify_with_every_model_skips_those_too_small(two_zoo, photo, tmp_path, monkeypatch):
    """With the wide model the default, a 16-byte message verifies without --model: the
    64-bit model, which cannot carry it, is skipped rather than refusing the whole run."""
    from wmark import zoo

    monkeypatch.setattr(zoo, "MODELS", {"wide": two_zoo["wide"], "tiny": two_zoo["tiny"]})
    message = "0123456789abcdef"
    marked = tmp_path / "marked.png"
    assert invoke("embed", photo, "--msg", message, "-o", marked, "--method", "encoder").exit_code == 0
    result = invoke("verify", marked, "--msg", message, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert records(result)[0]["model"] == "wide" and records(result)[0]["match"] is True
    too_long = invoke("verify", marked, "--msg", "x" * 40)
    assert too_long.exit_code == EXIT_USAGE and "model 'wide' holds at most 16" in too_long.stderr
