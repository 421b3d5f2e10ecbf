"""The packaged default model end to end on a Kodak photo: console script and library."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from wmark import api, zoo
from wmark.errors import EXIT_NOT_FOUND
from helpers import invoke

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


def test_a_marked_photo_is_refused_and_force_replaces_its_mark(tmp_path, kodak_paths):
    from wmark.errors import EXIT_REFUSED

    photo = Path(shutil.copy(kodak_paths[0], tmp_path / "photo.png"))
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    assert invoke("embed", photo, "--msg", "alice", "-o", first).exit_code == 0
    refused = invoke("embed", first, "--msg", "bob", "-o", second)
    assert refused.exit_code == EXIT_REFUSED and "already carries a wmark mark ('alice')" in refused.stderr
    assert not second.exists()
    forced = invoke("embed", first, "--msg", "bob", "-o", second, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert "replaced its earlier mark 'alice'" in forced.stderr
    assert json.loads(forced.stdout)["replaced"] == "alice"
    found = invoke("extract", second, "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["message"] == "bob"


def test_a_keyed_mark_is_refused_with_its_key(tmp_path, kodak_paths):
    from wmark.errors import EXIT_REFUSED

    key = tmp_path / "secret.key"
    assert invoke("keygen", "-o", key).exit_code == 0
    photo = Path(shutil.copy(kodak_paths[1], tmp_path / "photo.png"))
    marked = tmp_path / "marked.png"
    assert invoke("embed", photo, "--msg", "alice", "--key", key, "-o", marked).exit_code == 0
    again = invoke("embed", marked, "--msg", "bob", "--key", key, "-o", tmp_path / "again.png")
    assert again.exit_code == EXIT_REFUSED and "'alice'" in again.stderr


def test_the_self_check_flags_a_tiny_icon_and_strict_refuses_it(tmp_path, kodak_rgbs):
    from PIL import Image

    from wmark.errors import EXIT_REFUSED

    icon = tmp_path / "icon.png"
    Image.fromarray(kodak_rgbs[0]).resize((64, 64), Image.LANCZOS).save(icon)
    # --method encoder: the default (auto) would try ISMark too, ~30 s more, and fail alike.
    warned = invoke("embed", icon, "--msg", "owner", "--json", "--method", "encoder")
    assert warned.exit_code == 0, warned.output
    record = json.loads(warned.stdout)
    # Half the working size: the faint mark of wmark-v5 may not even read back clean.
    assert record["robust"] is False and record["survived"]["jpeg75"] is False
    assert "not robust" in warned.stderr
    strict = invoke("embed", icon, "--msg", "owner", "-o", tmp_path / "strict.png", "--strict", "--method", "encoder")
    assert strict.exit_code == EXIT_REFUSED and "nothing written" in strict.stderr
    assert not (tmp_path / "strict.png").exists()
    # A photo of ordinary size passes the same check.
    photo = tmp_path / "photo.png"
    Image.fromarray(kodak_rgbs[0]).save(photo)
    passed = invoke("embed", photo, "--msg", "owner", "--json", "--strict")
    assert passed.exit_code == 0 and json.loads(passed.stdout)["robust"] is True
