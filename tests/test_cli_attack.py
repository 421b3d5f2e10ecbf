"""`wmark attack` through CliRunner on real image files: every path and every error exit.

The helpers shared by every command are tested in test_cli_common.py."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wmark.attacks import PRESETS, REGISTRY, preset_chain
from wmark.cli import app
from wmark.errors import OutputError
from helpers import runner, invoke

ENTRIES = dict(REGISTRY)


def synthetic_photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth gradients, an edge and some texture: enough for every attack to bite."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 7.0) * np.cos(y / 5.0)], axis=-1)
    image[height // 3: 2 * height // 3, width // 4: width // 2] = (0.9, 0.2, 0.1)
    image += rng.normal(0.0, 0.03, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(synthetic_photo()).save(path)
    return path


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def json_lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def mid_value(entry) -> float | int | str:
    """A value inside the entry's range, away from the identity ends."""
    if entry.type is str:
        return "© wmark test"
    low, high = float(entry.low), float(entry.high)
    value = low + 0.3 * (high - low)
    return int(round(value)) if getattr(entry, "type", float) is int else round(value, 4)


def named(*candidates: str) -> str:
    for name in candidates:
        if name in ENTRIES:
            return name
    pytest.skip(f"no attack named any of {candidates}")


def only_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# --------------------------------------------------------------------------- success paths


def test_help_lists_every_registry_option():
    result = invoke("attack", "--help")
    assert result.exit_code == 0
    for name in ENTRIES:
        assert f"--{name}" in result.stdout


def test_attack_writes_output(photo, tmp_path):
    out = tmp_path / "out.png"
    result = invoke("attack", photo, "--jpeg", 50, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # human notes go to stderr
    assert str(out) in result.stderr
    assert pixels(out).shape == pixels(photo).shape
    assert not np.array_equal(pixels(out), pixels(photo))


def test_json_output_is_one_line_on_stdout(photo, tmp_path):
    out = tmp_path / "out.png"
    result = invoke("attack", photo, "--jpeg", 50, "--seed", 7, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    [record] = json_lines(result)
    assert record["path"] == str(photo) and record["output"] == str(out)
    assert record["attacks"] == [["jpeg", 50]] and record["seed"] == 7
    assert result.stdout.count("\n") == 1


def test_attacks_apply_in_command_line_order(photo, tmp_path):
    crop, resize = named("crop-edge"), named("resize")
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    one = invoke("attack", photo, f"--{crop}", 0.1, f"--{resize}", 0.5, "-o", first, "--json")
    two = invoke("attack", photo, f"--{resize}", 0.5, f"--{crop}", 0.1, "-o", second, "--json")
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert [step[0] for step in json_lines(one)[0]["attacks"]] == [ENTRIES[crop].name, ENTRIES[resize].name]
    assert [step[0] for step in json_lines(two)[0]["attacks"]] == [ENTRIES[resize].name, ENTRIES[crop].name]
    a, b = pixels(first), pixels(second)
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_equals_form_and_interleaved_options(photo, tmp_path):
    out = tmp_path / "out.png"
    result = invoke("attack", "--seed", 1, f"--{named('resize')}=0.5", photo, "-o", out, "--jpeg", 90, "--json")
    assert result.exit_code == 0, result.output
    assert [s[0] for s in json_lines(result)[0]["attacks"]] == [ENTRIES["resize"].name, "jpeg"]


def test_repeated_option_applies_twice(photo, tmp_path):
    resize = named("scale")
    out = tmp_path / "out.png"
    result = invoke("attack", photo, f"--{resize}", 0.5, f"--{resize}", 0.5, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["attacks"] == [[ENTRIES[resize].name, 0.5]] * 2
    height, width = pixels(out).shape[:2]
    assert (height, width) == (24, 32)


def test_same_seed_same_output_other_seed_other_output(photo, tmp_path):
    noise = named("noise", "gaussian-noise", "salt-pepper")
    outs = [tmp_path / f"{i}.png" for i in range(3)]
    for out, seed in zip(outs, (5, 5, 6)):
        assert invoke("attack", photo, f"--{noise}", mid_value(ENTRIES[noise]), "--seed", seed, "-o", out).exit_code == 0
    assert np.array_equal(pixels(outs[0]), pixels(outs[1]))
    assert not np.array_equal(pixels(outs[0]), pixels(outs[2]))


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_every_registry_option_runs(photo, tmp_path, name):
    out = tmp_path / "out.png"
    value = mid_value(ENTRIES[name])
    result = invoke("attack", photo, f"--{name}", value, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["attacks"] == [[ENTRIES[name].name, value]]
    assert pixels(out).ndim == 3


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_runs(photo, tmp_path, preset):
    out = tmp_path / "out.png"
    result = invoke("attack", photo, "--preset", preset, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert json_lines(result)[0]["attacks"] == [list(step) for step in preset_chain(preset)]


def test_preset_expands_where_it_stands(photo, tmp_path):
    preset = next(name for name, chain in PRESETS.items() if chain)
    steps = [list(step) for step in preset_chain(preset)]
    out = tmp_path / "out.png"
    result = invoke("attack", photo, "--jpeg", 90, "--preset", preset, "--jpeg", 80, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["attacks"] == [["jpeg", 90], *steps, ["jpeg", 80]]


def test_quality_and_format_follow_the_output(photo, tmp_path):
    low, high = tmp_path / "low.jpg", tmp_path / "high.jpg"
    assert invoke("attack", photo, "--jpeg", 95, "-o", low, "--quality", 20).exit_code == 0
    assert invoke("attack", photo, "--jpeg", 95, "-o", high, "--quality", 95).exit_code == 0
    assert low.stat().st_size < high.stat().st_size
    with Image.open(low) as image:
        assert image.format == "JPEG"
    webp = tmp_path / "out.webp"
    assert invoke("attack", photo, "--jpeg", 95, "-o", webp).exit_code == 0
    with Image.open(webp) as image:
        assert image.format == "WEBP"


def test_jpeg_input(tmp_path):
    source = tmp_path / "in.jpg"
    Image.fromarray(synthetic_photo()).save(source, quality=90)
    out = tmp_path / "out.jpg"
    assert invoke("attack", source, "--jpeg", 50, "-o", out).exit_code == 0
    assert pixels(out).shape == (96, 128, 3)


def test_force_overwrites_an_existing_output(photo, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    result = invoke("attack", photo, "--jpeg", 50, "-o", out, "--force")
    assert result.exit_code == 0, result.output
    assert pixels(out).shape == (96, 128, 3)


def test_quiet_prints_nothing(photo, tmp_path):
    result = invoke("--quiet", "attack", photo, "--jpeg", 50, "-o", tmp_path / "out.png")
    assert result.exit_code == 0 and result.output == ""


# --------------------------------------------------------------------------- error exits


def assert_failed(result, code: int, folder: Path, before: set[str], needle: str | None = None):
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines, "an error must say something"
    if needle is not None:
        assert needle in result.stderr
    assert only_files(folder) == before, "no partial or temporary output may be left"


def test_missing_input(tmp_path):
    before = only_files(tmp_path)
    result = invoke("attack", tmp_path / "nope.png", "--jpeg", 50, "-o", tmp_path / "out.png")
    assert_failed(result, 3, tmp_path, before, "error:")


def test_zero_byte_input(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    before = only_files(tmp_path)
    assert_failed(invoke("attack", empty, "--jpeg", 50, "-o", tmp_path / "out.png"), 3, tmp_path, before)


def test_text_named_jpg(tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a photo\n" * 20)
    before = only_files(tmp_path)
    assert_failed(invoke("attack", fake, "--jpeg", 50, "-o", tmp_path / "out.png"), 3, tmp_path, before)


def test_truncated_png(photo, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(photo.read_bytes()[: 200])
    before = only_files(tmp_path)
    assert_failed(invoke("attack", broken, "--jpeg", 50, "-o", tmp_path / "out.png"), 3, tmp_path, before)


def test_directory_as_input(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    before = only_files(tmp_path)
    assert_failed(invoke("attack", folder, "--jpeg", 50, "-o", tmp_path / "out.png"), 3, tmp_path, before)


def test_output_in_missing_folder(photo, tmp_path):
    before = only_files(tmp_path)
    result = invoke("attack", photo, "--jpeg", 50, "-o", tmp_path / "no" / "such" / "out.png")
    assert_failed(result, 4, tmp_path, before)


def test_output_under_a_file(photo, tmp_path):
    before = only_files(tmp_path)
    result = invoke("attack", photo, "--jpeg", 50, "-o", photo / "out.png")
    assert_failed(result, 4, tmp_path, before)


def test_output_in_unwritable_folder(photo, tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root writes anywhere a mode allows: use /proc
        if not Path("/proc/self").is_dir():
            pytest.skip("root, and no /proc to stand for an unwritable folder")
        result = invoke("attack", photo, "--jpeg", 50, "-o", "/proc/wmark-test-out.png")
        assert result.exit_code == 4 and len(result.stderr.strip().splitlines()) == 1, result.output
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = invoke("attack", photo, "--jpeg", 50, "-o", locked / "out.png")
        assert result.exit_code == 4 and list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_output_is_a_folder(photo, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    before = only_files(tmp_path)
    assert_failed(invoke("attack", photo, "--jpeg", 50, "-o", folder), 4, tmp_path, before)


def test_existing_output_without_force(photo, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    before = only_files(tmp_path)
    assert_failed(invoke("attack", photo, "--jpeg", 50, "-o", out), 4, tmp_path, before, "--force")
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("force", [False, True])
def test_never_overwrites_the_input(photo, tmp_path, force):
    original = photo.read_bytes()
    before = only_files(tmp_path)
    args = ["attack", photo, "--jpeg", 50, "-o", photo] + (["--force"] if force else [])
    assert_failed(invoke(*args), 4, tmp_path, before)
    assert photo.read_bytes() == original


@pytest.mark.parametrize("args", [
    ["--jpeg", 1000], ["--jpeg", -5], ["--jpeg", "abc"], ["--quality", 0], ["--seed", -1],
    ["--preset", "no-such-preset"], [],
])
def test_usage_errors_exit_2(photo, tmp_path, args):
    before = only_files(tmp_path)
    result = invoke("attack", photo, *args, "-o", tmp_path / "out.png")
    assert_failed(result, 2, tmp_path, before)


def test_out_of_range_for_every_bounded_option(photo, tmp_path):
    for name, entry in ENTRIES.items():
        if entry.type is str:
            continue  # a length, checked in test_text_is_a_string_option
        too_big = float(entry.high) + (10 if getattr(entry, "type", float) is int else 1.5 * abs(entry.high) + 1)
        value = int(too_big) if getattr(entry, "type", float) is int else too_big
        result = invoke("attack", photo, f"--{name}", value, "-o", tmp_path / "out.png")
        assert result.exit_code == 2, (name, result.output)
    assert not (tmp_path / "out.png").exists()


def test_missing_output_option(photo, tmp_path):
    before = only_files(tmp_path)
    assert_failed(invoke("attack", photo, "--jpeg", 50), 2, tmp_path, before, "--output")


def test_message_needs_check_and_check_needs_one_message(photo, tmp_path):
    before = only_files(tmp_path)
    assert_failed(invoke("attack", photo, "--jpeg", 50, "-o", tmp_path / "o.png", "--msg", "hi"), 2, tmp_path, before)
    assert_failed(invoke("attack", photo, "--jpeg", 50, "--check"), 2, tmp_path, before)
    assert_failed(invoke("attack", photo, "--jpeg", 50, "--check", "--msg", "a", "--hex", "00"), 2, tmp_path, before)


@pytest.mark.skipif(importlib.util.find_spec("wmark.api") is not None, reason="wmark.api exists")
def test_check_without_a_model_is_a_clear_model_error(photo, tmp_path):
    result = invoke("attack", photo, "--jpeg", 50, "--check", "--msg", "hi")
    assert result.exit_code == 5 and "wmark.api" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_argument_and_no_args(tmp_path):
    assert invoke("attack").exit_code == 2
    result = invoke()
    assert result.exit_code in (0, 2) and "attack" in result.output


# --------------------------------------------------------------------------- error mapping


def _raise(error: BaseException):
    def apply_chain(*args, **kwargs):
        raise error
    return apply_chain


def test_unexpected_error_is_one_line_exit_1(photo, tmp_path, monkeypatch):
    import wmark.attacks

    monkeypatch.setattr(wmark.attacks, "apply_chain", _raise(RuntimeError("boom")))
    result = invoke("attack", photo, "--jpeg", 50, "-o", tmp_path / "out.png")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {photo}: internal error (RuntimeError: boom); run with --debug for the traceback"]
    assert not (tmp_path / "out.png").exists()


def test_debug_shows_the_traceback(photo, tmp_path, monkeypatch):
    import wmark.attacks

    monkeypatch.setattr(wmark.attacks, "apply_chain", _raise(RuntimeError("boom")))
    result = runner.invoke(app, ["--debug", "attack", str(photo), "--jpeg", "50", "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr


def test_wmark_error_keeps_its_code_and_ctrl_c_is_130(photo, tmp_path, monkeypatch):
    import wmark.attacks

    monkeypatch.setattr(wmark.attacks, "apply_chain", _raise(OutputError("disk full")))
    result = invoke("attack", photo, "--jpeg", 50, "-o", tmp_path / "out.png")
    assert result.exit_code == 4 and result.stderr.strip() == f"error: {photo}: disk full"
    monkeypatch.setattr(wmark.attacks, "apply_chain", _raise(KeyboardInterrupt()))
    result = invoke("attack", photo, "--jpeg", 50, "-o", tmp_path / "out.png")
    assert result.exit_code == 130 and "interrupted" in result.stderr


# --------------------------------------------------------------------------- the brief's examples and bad inputs


def test_jpeg_then_crop_example(kodak_file, tmp_path):
    out = tmp_path / "out.jpg"
    result = invoke("attack", kodak_file, "--jpeg", 50, "--crop", 0.8, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["attacks"] == [["jpeg", 50], ["crop", 0.8]]
    assert pixels(out).shape == pixels(kodak_file).shape  # crop resizes back
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_text_is_a_string_option(photo, tmp_path):
    out = tmp_path / "out.png"
    result = invoke("attack", photo, "--text", "© 2026 wmark", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["attacks"] == [["text", "© 2026 wmark"]]
    assert not np.array_equal(pixels(out), pixels(photo))
    assert invoke("attack", photo, "--text", "x" * 500, "-o", tmp_path / "o.png").exit_code == 2


def test_presets_are_the_reference_columns_then_social_and_screenshot():
    assert list(PRESETS)[:15] == ["none", "jpeg90", "jpeg75", "jpeg50", "resize0.5", "crop80+resize", "crop10edge",
                                  "blur1.0", "noise0.02", "bright1.3", "contrast1.3", "sat0", "s&p0.02", "rot2",
                                  "webp75"]
    assert {"social", "screenshot", "flip", "social1080q80", "screenshot0.8", "social+screenshot"} <= set(PRESETS)
    help_text = " ".join(invoke("attack", "--help").stdout.split())
    assert "social" in help_text and "screenshot" in help_text


def test_social_and_screenshot_presets_on_a_kodak_jpeg(kodak_path, tmp_path):
    """What a social network and a screenshot do to a camera JPEG: resized, re-encoded or
    rescaled and trimmed, its EXIF, ICC and XMP gone."""
    source = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x010F] = "wmark test camera"  # Make
    with Image.open(kodak_path) as image:
        image.convert("RGB").save(source, quality=95, exif=exif, icc_profile=b"\0" * 128, dpi=(300, 300))
    social, shot = tmp_path / "social.jpg", tmp_path / "shot.png"
    result = invoke("attack", source, "--preset", "social", "-o", social, "--json")
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["attacks"] == [["strip-metadata", 1], ["resize-long", 1080], ["jpeg", 80]]
    with Image.open(social) as image:
        assert image.format == "JPEG" and image.size == (1080, 721)
        assert not image.getexif() and "icc_profile" not in image.info and "dpi" not in image.info
    kept = tmp_path / "kept.jpg"
    assert invoke("attack", source, "--resize-long", 1080, "--jpeg", 80, "-o", kept).exit_code == 0
    with Image.open(kept) as image:  # without strip-metadata the EXIF stays
        assert image.getexif()[0x010F] == "wmark test camera"
    result = invoke("attack", source, "--preset", "screenshot", "-o", shot, "--json")
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["attacks"] == [["strip-metadata", 1], ["scale", 1.25], ["crop-px", 4]]
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (320 - 8, 214 - 8) and not image.getexif()
    chained = tmp_path / "chained.png"
    result = invoke("attack", source, "--preset", "flip", "--preset", "social", "-o", chained, "--json")
    assert result.exit_code == 0 and json_lines(result)[0]["attacks"][0] == ["flip", 1]


def test_preset_none_copies_the_image(photo, tmp_path):
    out = tmp_path / "out.png"
    assert invoke("attack", photo, "--preset", "none", "-o", out).exit_code == 0
    assert np.array_equal(pixels(out), pixels(photo))


def test_truncated_jpeg(tmp_path):
    source = tmp_path / "in.jpg"
    Image.fromarray(synthetic_photo()).save(source, quality=90)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    before = only_files(tmp_path)
    assert_failed(invoke("attack", broken, "--jpeg", 50, "-o", tmp_path / "out.png"), 3, tmp_path, before, "truncated")


def test_one_pixel_image(tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tiny)
    out = tmp_path / "out.png"
    result = invoke("attack", tiny, "--jpeg", 50, "--blur", 1.0, "-o", out)
    assert result.exit_code == 0, result.output
    assert pixels(out).shape == (1, 1, 3)


def fake_png_header(width: int, height: int) -> bytes:
    """A PNG that declares width×height but holds no pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decompression_bomb_and_its_override(tmp_path, monkeypatch):
    monkeypatch.delenv("WMARK_MAX_PIXELS", raising=False)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(fake_png_header(20000, 20000))
    before = only_files(tmp_path)
    result = invoke("attack", bomb, "--jpeg", 50, "-o", tmp_path / "out.png")
    assert_failed(result, 3, tmp_path, before, "20000×20000")
    assert len(result.stderr.strip().splitlines()) == 1
    small = tmp_path / "small.png"
    Image.fromarray(synthetic_photo()).save(small)
    before = only_files(tmp_path)
    result = invoke("--max-pixels", 1000, "attack", small, "--jpeg", 50, "-o", tmp_path / "out.png")
    assert_failed(result, 3, tmp_path, before, "limit")
    result = invoke("--max-pixels", 0, "attack", small, "--jpeg", 50, "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args", [
    ["--jpeg", 1000], ["--jpeg", "abc"], ["--no-such-option"], ["--preset", "nope"], [],
])
def test_bad_options_are_one_line(photo, tmp_path, args):
    result = invoke("attack", photo, *args, "-o", tmp_path / "out.png")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_missing_argument_is_one_line():
    result = invoke("attack", "--jpeg", 50)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["error: Missing argument 'IN'. (see 'wmark attack --help')"]


def test_unknown_output_extension(photo, tmp_path):
    before = only_files(tmp_path)
    assert_failed(invoke("attack", photo, "--jpeg", 50, "-o", tmp_path / "out.xyz"), 2, tmp_path, before, ".xyz")


def test_json_error_record(tmp_path):
    missing = tmp_path / "nope.png"
    result = invoke("attack", missing, "--jpeg", 50, "-o", tmp_path / "out.png", "--json")
    assert result.exit_code == 3
    [record] = json_lines(result)
    assert record["path"] == str(missing) and record["exit_code"] == 3 and "no such file" in record["error"]
    assert result.stderr.count(str(missing)) == 1  # the path once, not twice


# --------------------------------------------------------------------------- the installed console script


def test_console_script_attack_and_errors(kodak_file, tmp_path, console_script):
    import subprocess

    out = tmp_path / "out.webp"
    done = subprocess.run([console_script, "attack", str(kodak_file), "--preset", "jpeg50", "--rotate", "2",
                           "-o", str(out), "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["attacks"] == [["jpeg", 50], ["rotate", 2.0]]
    with Image.open(out) as image:
        assert image.format == "WEBP"
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    for args, code in ([str(empty), "--jpeg", "50", "-o", str(tmp_path / "x.png")], 3), \
                      ([str(kodak_file), "--jpeg", "500", "-o", str(tmp_path / "x.png")], 2), \
                      ([str(kodak_file), "--jpeg", "50", "-o", str(kodak_file)], 4):
        done = subprocess.run([console_script, "attack", *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stderr
        assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
