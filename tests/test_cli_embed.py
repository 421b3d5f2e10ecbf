"""`wmark embed / extract / verify / models` through CliRunner, with the tiny test model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wmark.errors import EXIT_INPUT, EXIT_MODEL, EXIT_NOT_FOUND, EXIT_OUTPUT, EXIT_USAGE
from helpers import invoke, records

@pytest.fixture
def photos(tmp_path: Path, kodak_paths: list[Path]) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    return [Path(shutil.copy(path, folder / path.name)) for path in kodak_paths]


def test_embed_beside_the_input(tiny_zoo, photos):
    source = photos[0]
    before = source.read_bytes()
    result = invoke("embed", source, "--msg", "hi", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    (record,) = records(result)
    target = source.with_name("kodim01.wm.png")
    assert record["output"] == str(target) and target.is_file()
    assert record["model"] == "tiny" and record["psnr"] > 10 and len(record["bits"]) == 64
    assert source.read_bytes() == before
    with Image.open(target) as marked, Image.open(source) as original:
        assert marked.size == original.size and marked.format == "PNG"
    # A second run skips the existing output (an interrupted batch resumes), --force replaces.
    again = invoke("embed", source, "--msg", "hi")
    assert again.exit_code == 0 and "exists, skipped (--force replaces it)" in again.stderr
    forced = invoke("--debug", "embed", source, "--msg", "hi", "--force")
    assert forced.exit_code == 0, forced.output


def test_embed_many_into_a_folder_and_extract_them(tiny_zoo, photos, tmp_path):
    out = tmp_path / "out"
    result = invoke("-q", "embed", *photos, "--hex", "beef", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in photos)
    result = invoke("extract", out, "--json")
    found = records(result)
    assert len(found) == 3 and result.exit_code == 0
    for record in found:
        assert set(record) >= {"path", "found", "message", "hex", "bits", "confidence", "p_value",
                               "corrected_symbols", "model"}
        assert record["found"] and record["hex"] == "beef"
    clean = invoke("extract", *photos)
    assert clean.exit_code == EXIT_NOT_FOUND and "no watermark found" in clean.stdout


def test_a_folder_of_one_photo_goes_into_the_output_folder(tiny_zoo, photos, tmp_path):
    """-o is a folder for a folder (or glob) input even when it holds a single photo today."""
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / photos[0].name).write_bytes(photos[0].read_bytes())
    result = invoke("-q", "embed", folder, "--hex", "beef", "-o", tmp_path / "marked")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "marked").iterdir()] == [photos[0].name]


def test_extract_raw_and_text_modes(tiny_zoo, photos):
    raw = invoke("extract", photos[0], "--raw")
    assert raw.stdout.strip() and set(raw.stdout.strip()) <= {"0", "1"} and len(raw.stdout.strip()) == 64
    plain = invoke("extract", photos[0])
    assert plain.exit_code in (0, EXIT_NOT_FOUND)
    if plain.exit_code == EXIT_NOT_FOUND:
        assert "no watermark" in plain.stdout


def test_verify_own_bits_matches_and_flipped_does_not(tiny_zoo, photos):
    bits = invoke("extract", photos[0], "--raw").stdout.strip()
    match = invoke("verify", photos[0], "--bits", bits, "--json")
    assert match.exit_code == 0 and records(match)[0]["match"] is True
    flipped = "".join("1" if b == "0" else "0" for b in bits)
    miss = invoke("verify", photos[0], "--bits", flipped)
    assert miss.exit_code == EXIT_NOT_FOUND and "no match" in miss.stdout


def test_bad_input_and_options(tiny_zoo, photos, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = invoke("extract", broken, photos[0], "--json")
    assert result.exit_code == EXIT_INPUT
    lines = records(result)
    assert "error" in lines[0] and "found" in lines[1]  # the bad file is skipped, the run goes on
    assert invoke("embed", photos[0]).exit_code == EXIT_USAGE  # no message
    assert invoke("embed", photos[0], "--msg", "x", "--hex", "00").exit_code == EXIT_USAGE
    too_long = invoke("embed", photos[0], "--msg", "far too long for 64 bits")
    assert too_long.exit_code == EXIT_USAGE and "at most" in too_long.output
    assert invoke("embed", photos[0], "--msg", "x", "--model", "nope").exit_code == EXIT_MODEL
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tiny)
    assert invoke("extract", tiny).exit_code == EXIT_INPUT


def test_tampered_weights_are_refused(tiny_zoo, photos):
    from wmark import zoo

    path = zoo.weights_path(tiny_zoo)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    result = invoke("extract", photos[0])
    assert result.exit_code == EXIT_MODEL and "sha256" in result.output


def test_models_lists_capacity(tiny_zoo):
    result = invoke("models", "--json")
    (record,) = records(result)
    assert record["name"] == "tiny" and record["bits"] == 64 and record["max_bytes"] >= 1
    assert record["sha256"] == tiny_zoo.sha256
    assert "64 raw bits" in invoke("models").stdout


def test_secret_key(tiny_zoo, photos, tmp_path):
    key, other = tmp_path / "owner.key", tmp_path / "other.key"
    assert invoke("keygen", "-o", key).exit_code == 0
    assert (key.stat().st_mode & 0o777) == 0o600 and len(bytes.fromhex(key.read_text().strip())) == 16
    assert invoke("keygen", "-o", key).exit_code == EXIT_OUTPUT  # never over an existing key
    assert invoke("keygen", "-o", other).exit_code == 0
    marked = tmp_path / "marked.png"
    assert invoke("embed", photos[0], "--msg", "hi", "--key", key, "-o", marked).exit_code == 0
    right = invoke("extract", marked, "--key", key)
    assert right.exit_code == 0 and right.stdout.strip() == "hi"
    for wrong in (["--key", other], []):
        result = invoke("extract", marked, *wrong)
        assert result.exit_code == EXIT_NOT_FOUND and "hi" not in result.stdout
    assert invoke("verify", marked, "--msg", "hi", "--key", key).exit_code == 0
    assert invoke("verify", marked, "--msg", "hi", "--key", other).exit_code == EXIT_NOT_FOUND
    bad = tmp_path / "bad.key"
    bad.write_text("not hex")
    result = invoke("extract", marked, "--key", bad)
    assert result.exit_code == EXIT_USAGE and "hexadecimal" in result.output


def test_jobs_keep_the_input_order(tiny_zoo, photos, tmp_path):
    out = tmp_path / "out"
    assert invoke("embed", *photos, "--msg", "hi", "-o", out, "--jobs", "3").exit_code == 0
    marked = sorted(out.iterdir())
    serial = invoke("extract", *marked, "--json")
    parallel = invoke("extract", *marked, "--json", "-j", "2")
    assert serial.exit_code == parallel.exit_code == 0
    assert records(serial) == records(parallel) and [r["path"] for r in records(parallel)] == list(map(str, marked))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    mixed = invoke("extract", marked[0], broken, marked[1], "--json", "-j", "2")
    assert mixed.exit_code == EXIT_INPUT
    assert ["error" in r for r in records(mixed)] == [False, True, False]


def test_a_jpeg_output_keeps_the_input_quality_with_full_chroma(tiny_zoo, tmp_path, kodak_rgb):
    from PIL import JpegImagePlugin

    from wmark.imageio import read_image

    source = tmp_path / "photo.jpg"
    Image.fromarray(kodak_rgb).save(source, quality=82, subsampling=2)
    assert invoke("embed", source, "--msg", "hi").exit_code == 0
    marked = tmp_path / "photo.wm.jpg"
    assert read_image(marked).jpeg_quality == 82
    with Image.open(marked) as image:
        assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4
    assert invoke("embed", source, "--msg", "hi", "--quality", "90", "--force").exit_code == 0
    assert read_image(marked).jpeg_quality == 90


def test_embed_reports_the_strength_it_got_and_the_quality(tiny_zoo, photos):
    """--json: the strength the photo got on auto's ladder, the ceiling, SSIMULACRA 2 of the
    whole photo (it is under 1920x1080); --score puts the score on the human line."""
    from wmark import api

    result = invoke("embed", photos[0], "--msg", "hi", "--json", "--strength", "0.8")
    assert result.exit_code == 0, result.output
    (record,) = records(result)
    assert record["strength_ceiling"] == 0.8
    assert any(record["strength"] == pytest.approx(0.8 * share, abs=1e-3) for share in api.LADDER)
    assert record["ssimulacra2"] < 100 and record["scored_view"] == "full"  # the tiny model marks loud: low
    assert "warning" in record and record["method"] in ("encoder", "ismark")
    human = invoke("embed", photos[1], "--msg", "hi", "--score", "--method", "encoder")
    assert human.exit_code == 0 and "SSIMULACRA 2" in human.stderr and "strength 1" in human.stderr


def test_no_score_leaves_the_score_out_of_json(tiny_zoo, photos, tmp_path):
    result = invoke("embed", photos[0], "--msg", "hi", "--json", "--no-score", "--method", "encoder",
                    "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    (record,) = records(result)
    assert record["ssimulacra2"] is None and record["scored_view"] is None and record["psnr"] > 0


def test_a_large_photo_is_scored_fitted_to_a_screen(kodak_rgb):
    from wmark import api

    big = np.ascontiguousarray(np.tile(kodak_rgb, (8, 10, 1)))[:1400, :2400]  # wider than 1920
    score, view = api.quality_score(big, big)
    assert view == "fitted 1920x1080" and score == pytest.approx(100, abs=0.5)
