"""The packaged default model end to end on a Kodak photo: console script and library."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wmark import api, zoo
from wmark.errors import EXIT_NOT_FOUND

# The strength these tests embed at: see models/MODEL_CARD.md for what the packaged
# model reaches at strength 1 (its PSNR contract) and above.
STRENGTH = "1.0"


def wmark(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wmark", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_the_packaged_model_is_verified_and_loads():
    entry = zoo.get_entry("default")
    path = zoo.weights_path(entry)
    assert zoo.sha256_of(path) == entry.sha256
    model = zoo.load_model("default")
    assert model.cfg.bits == entry.bits >= 64 and model.cfg.size == entry.size
    assert not model.training


def test_embed_extract_verify_through_the_console_script(tmp_path, kodak_paths):
    photo = Path(shutil.copy(kodak_paths[2], tmp_path / "photo.png"))
    before = photo.read_bytes()
    marked = tmp_path / "marked.png"
    embed = wmark("embed", photo, "--msg", "owner", "--strength", STRENGTH, "-o", marked, "--json")
    assert embed.returncode == 0, embed.stderr
    record = json.loads(embed.stdout)
    assert record["model"] == zoo.get_entry("default").name and record["psnr"] > 25
    assert photo.read_bytes() == before

    extract = wmark("extract", marked, "--json")
    assert extract.returncode == 0, extract.stdout + extract.stderr
    found = json.loads(extract.stdout)
    assert found["found"] and found["message"] == "owner" and found["p_value"] < 1e-6

    assert wmark("verify", marked, "--msg", "owner").returncode == 0
    clean = wmark("verify", photo, "--msg", "owner")
    assert clean.returncode == EXIT_NOT_FOUND and "no match" in clean.stdout
    assert wmark("extract", photo).returncode == EXIT_NOT_FOUND


def test_the_mark_survives_jpeg(tmp_path, kodak_rgbs):
    from wmark.attacks import apply_chain

    rgb = np.ascontiguousarray(kodak_rgbs[0])
    marked = api.embed(rgb, "owner", strength=float(STRENGTH)).image
    attacked = apply_chain(marked, [("jpeg", 75)])
    result = api.extract(attacked)
    assert result.found and result.text == "owner"
