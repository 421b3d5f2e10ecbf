"""`wmark bench` and :mod:`wmark.bench`: the mechanics, on 3 small photos, 2 attacks and the
tiny random model (its accuracy is near chance: these tests check what is measured and
written, not how well)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from wmark import bench
from wmark.attacks import GROUPS, REFERENCE
from wmark.errors import EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE, DependencyError, InputError, UsageError
from helpers import invoke

ATTACKS = "none,jpeg50"
SIZE = 64  # the tiny model's working size: fast
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
REPORT_FILES = ["report.csv", "report.json", "report.md", *(["robustness.png"] if HAS_MATPLOTLIB else [])]
TIMINGS = ("embed_s", "extract_s")
PERCEPTUAL = ("ssimulacra2_mean", "ssimulacra2_min", "flip_mean", "flip_max")


@pytest.fixture
def photos(tmp_path: Path, kodak_paths: list[Path]) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in kodak_paths:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def report(kodak_paths, tiny_model):
    from conftest import loud_mask

    with loud_mask():
        return bench.run_benchmark(kodak_paths, attacks=ATTACKS, model=tiny_model, size=SIZE, device="cpu")


# --------------------------------------------------------------------------- library


def test_parse_attacks():
    assert list(bench.parse_attacks(None)) == REFERENCE == list(bench.parse_attacks("reference"))
    assert bench.parse_attacks(" jpeg50 , rot2,") == {"jpeg50": [("jpeg", 50)], "rot2": [("rotate", 2.0)]}
    assert bench.parse_attacks(["s&p0.02", "jpeg=30"]) == {"s&p0.02": [("salt-pepper", 0.02)],
                                                         "jpeg=30": [("jpeg", 30)]}
    social = bench.parse_attacks("social,screenshot")
    assert list(social) == [*GROUPS["social"], *GROUPS["screenshot"]] and social["flip"] == [("flip", 1)]
    assert list(bench.parse_attacks("none,social1080q80,social")) == ["none", *GROUPS["social"]]
    for bad in ("jpeg51", "nope=3", "jpeg=300", "jpeg=abc"):
        with pytest.raises(UsageError):
            bench.parse_attacks(bad)


def test_prepare_crops_the_centre_square():
    rgb = np.zeros((100, 300, 3), np.uint8)
    rgb[:, 100:200] = 255  # the centre square is white, the sides black
    out = bench.prepare(rgb, 64)
    assert out.shape == (64, 64, 3) and out.min() == 255
    assert bench.prepare(rgb, 100).shape == (100, 100, 3)
    assert bench.prepare(rgb, None) is rgb


def test_report_holds_every_column_and_number(report):
    assert report.settings["images"] == 3 and report.settings["attacks"] == {"none": [], "jpeg50": [("jpeg", 50)]}
    assert report.settings["raw_bits"] == 64 and report.settings["size"] == SIZE
    (system,) = report.systems
    assert system.name == "wmark encoder" and system.bits == 64 and len(system.images) == 3
    for image in system.images:
        assert (image["width"], image["height"]) == (SIZE, SIZE)
        assert math.isfinite(image["psnr"]) and image["psnr"] > 10  # the tiny test model is loud
        assert 0 < image["ssim"] < 1
        assert image["ssimulacra2"] < 100 and 0 < image["flip"] < 1  # the tiny model's mark is visible
        assert image["embed_s"] > 0 and image["extract_s"] > 0
        assert image["megapixels"] == image["extract_megapixels"] == SIZE * SIZE / 1e6  # none, jpeg50: same size
        assert isinstance(image["clean_found"], bool) and isinstance(image["clean_verified"], bool)
        assert set(image["attacks"]) == {"none", "jpeg50"}
        for row in image["attacks"].values():
            assert set(row) == set(bench.METRICS)
            for key in ("accuracy", "accuracy_no_search", "accuracy_best", "accuracy_message"):
                assert 0 <= row[key] <= 1
            assert row["accuracy_best"] >= max(row["accuracy"], row["accuracy_no_search"])
            assert isinstance(row["verified"], bool) and isinstance(row["recovered"], bool)
    (summary,) = report.summary()
    for attack in ("none", "jpeg50"):
        for metric in bench.METRICS:
            expected = np.mean([float(image["attacks"][attack][metric]) for image in system.images])
            assert summary["attacks"][attack][metric] == pytest.approx(expected)
    assert summary["mean"]["accuracy"] == pytest.approx(
        (summary["attacks"]["none"]["accuracy"] + summary["attacks"]["jpeg50"]["accuracy"]) / 2)
    assert summary["psnr_min"] <= summary["psnr_mean"]
    ssims = [image["ssim"] for image in system.images]
    assert summary["ssim_mean"] == pytest.approx(np.mean(ssims)) and summary["ssim_min"] == min(ssims)
    scores, errors = [image["ssimulacra2"] for image in system.images], [image["flip"] for image in system.images]
    assert summary["ssimulacra2_mean"] == pytest.approx(np.mean(scores)) and summary["ssimulacra2_min"] == min(scores)
    assert summary["flip_mean"] == pytest.approx(np.mean(errors)) and summary["flip_max"] == max(errors)
    assert report.settings["quality"] is True
    for key in TIMINGS:
        seconds = [image[key] for image in system.images]
        assert summary[key] == pytest.approx(np.mean(seconds))
        assert summary[f"{key}_per_mp"] == pytest.approx(sum(seconds) / (3 * SIZE * SIZE / 1e6))


def test_report_formats_agree(report, tmp_path):
    (summary,) = report.summary()
    data = json.loads(report.to_json())
    assert data["summary"][0]["attacks"]["jpeg50"]["accuracy"] == pytest.approx(
        summary["attacks"]["jpeg50"]["accuracy"])
    assert len(data["images"]["wmark encoder"]) == 3
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [row["attack"] for row in rows] == ["none", "jpeg50", "mean"]
    assert float(rows[1]["accuracy"]) == pytest.approx(summary["attacks"]["jpeg50"]["accuracy"], abs=1e-6)
    assert float(rows[0]["recovered"]) == pytest.approx(summary["attacks"]["none"]["recovered"], abs=1e-6)
    markdown = report.to_markdown()
    accuracy = f"{100 * summary['attacks']['jpeg50']['accuracy']:.1f}"
    assert "| `jpeg50` | " + accuracy + " |" in markdown
    assert "**mean**" in markdown and "**worst**" in markdown and "PSNR mean" in markdown
    assert f"| {summary['ssim_mean']:.4f} | {summary['ssim_min']:.4f} |" in markdown
    assert f"| {summary['embed_s_per_mp']:.3f} |" in markdown and "extract (s/MP)" in markdown
    assert float(rows[2]["ssim_min"]) == pytest.approx(summary["ssim_min"], abs=1e-4)
    assert float(rows[0]["ssimulacra2_min"]) == pytest.approx(summary["ssimulacra2_min"], abs=1e-4)
    assert float(rows[2]["flip_max"]) == pytest.approx(summary["flip_max"], abs=1e-6)
    assert "| SSIMULACRA 2 mean | SSIMULACRA 2 worst | FLIP mean | FLIP worst |" in markdown
    assert (f"| {summary['ssimulacra2_mean']:.2f} | {summary['ssimulacra2_min']:.2f} | {summary['flip_mean']:.4f}"
            f" | {summary['flip_max']:.4f} |") in markdown
    assert data["summary"][0]["flip_max"] == pytest.approx(summary["flip_max"])
    written = report.save(tmp_path / "out")
    assert sorted(p.name for p in written) == REPORT_FILES
    assert (tmp_path / "out" / "report.md").read_text() == markdown
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
def test_robustness_chart(report, tmp_path):
    from PIL import Image

    png = report.chart()
    assert png == report.chart()  # the same numbers draw the same picture
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.width == 800 and 150 < image.height < 800
        pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # bars, text, lines: not a blank canvas
    report.save(tmp_path)
    assert (tmp_path / "robustness.png").read_bytes() == png


def test_without_matplotlib_the_chart_is_skipped_with_a_note(report, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    notes: list[str] = []
    written = report.save(tmp_path, note=notes.append)
    assert sorted(p.name for p in written) == ["report.csv", "report.json", "report.md"]
    assert len(notes) == 1 and "robustness.png" in notes[0] and "matplotlib" in notes[0]


def test_same_seed_same_numbers(report, kodak_paths, tiny_model):
    again = bench.run_benchmark(kodak_paths[:1], attacks=ATTACKS, model=tiny_model, size=SIZE, device="cpu",
                                message_mode="bits")
    first, second = report.systems[0].images[0], again.systems[0].images[0]
    assert second["psnr"] == first["psnr"]
    for attack in ("none", "jpeg50"):
        assert second["attacks"][attack]["accuracy"] == first["attacks"][attack]["accuracy"]
        assert "recovered" not in second["attacks"][attack]  # bits only


def test_no_quality_leaves_the_perceptual_scores_out(report, kodak_paths, tiny_model, monkeypatch):
    from wmark import metrics

    monkeypatch.setattr(metrics, "PACKAGES", {"wmark_no_such_module": "no-such-package"})  # as if missing
    with pytest.raises(DependencyError, match="no-such-package.*--no-quality"):
        bench.run_benchmark(kodak_paths[:1], attacks="none", model=tiny_model, size=SIZE, device="cpu")
    quick = bench.run_benchmark(kodak_paths[:1], attacks="none", model=tiny_model, size=SIZE, device="cpu",
                                quality=False)
    (image,) = quick.systems[0].images
    assert "ssimulacra2" not in image and "flip" not in image and quick.settings["quality"] is False
    assert image["psnr"] == report.systems[0].images[0]["psnr"] and 0 < image["ssim"] < 1
    (summary,) = quick.summary()
    assert not set(PERCEPTUAL) & set(summary) and summary["psnr_mean"] == image["psnr"]
    assert "SSIMULACRA" not in quick.to_markdown() and "PSNR mean" in quick.to_markdown()
    rows = list(csv.DictReader(io.StringIO(quick.to_csv())))
    assert rows[0]["ssimulacra2_mean"] == rows[0]["flip_max"] == "" and rows[0]["psnr_mean"]


def test_a_peer_scores_its_marks_too(kodak_rgb):
    """A peer's marked photo gets the same scores as wmark's, against the same prepared photo."""
    from wmark.metrics import flip, ssimulacra2

    class Brighter(bench._Peer):  # a fake peer: a visible shift, nothing read back
        def __init__(self, quality: bool):
            self.name, self.bits, self.quality = "brighter", 64, quality

        def embed(self, bgr, bits):
            return np.clip(bgr.astype(np.int16) + 6, 0, 255).astype(np.uint8)

        def extract(self, bgr):
            return np.zeros(self.bits, bool)

    rgb, raw = bench.prepare(kodak_rgb, SIZE), np.zeros(64, np.uint8)
    record = bench._run_one(Brighter(True), rgb, raw, {"none": []}, 0)
    marked = np.clip(rgb.astype(np.int16) + 6, 0, 255).astype(np.uint8)
    assert record["ssimulacra2"] == ssimulacra2(rgb, marked) and record["flip"] == flip(rgb, marked)
    assert record["attacks"]["none"]["accuracy"] == 1.0 and math.isfinite(record["psnr"])
    assert not {"ssimulacra2", "flip"} & set(bench._run_one(Brighter(False), rgb, raw, {"none": []}, 0))


def _numbers(report) -> list[dict]:
    """Every per-photo record without the timings (which differ from run to run)."""
    return [{key: value for key, value in image.items() if key not in TIMINGS}
            for system in report.systems for image in system.images]


def _counting_embeds(monkeypatch) -> list[int]:
    from wmark import api

    calls: list[int] = []
    real_embed = api.embed
    monkeypatch.setattr(api, "embed", lambda *args, **kwargs: calls.append(1) or real_embed(*args, **kwargs))
    return calls


def test_a_journal_makes_the_run_resumable(kodak_paths, tiny_model, tmp_path, monkeypatch):
    journal, notes = tmp_path / "images.jsonl", []
    kwargs = dict(attacks=ATTACKS, model=tiny_model, size=SIZE, device="cpu", message_mode="bits", seed=3)
    first = bench.run_benchmark(kodak_paths[:2], journal=journal, log=notes.append, **kwargs)
    lines = journal.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["settings"]["seed"] == 3 and notes == []
    assert [json.loads(line)["path"] for line in lines[1:]] == [str(path) for path in kodak_paths[:2]]
    calls = _counting_embeds(monkeypatch)
    second = bench.run_benchmark(kodak_paths, journal=journal, log=notes.append, **kwargs)
    assert len(calls) == 1  # only the third photo is measured
    assert second.settings["resumed"] == 2 and second.settings["images"] == 3
    assert "2 photo(s) already measured" in notes[0]
    assert "2 of them from an earlier run" in second.to_markdown()
    fresh = bench.run_benchmark(kodak_paths, **kwargs)
    assert _numbers(second) == _numbers(fresh) and _numbers(first) == _numbers(fresh)[:2]
    assert fresh.settings["resumed"] == 0 and len(journal.read_text().splitlines()) == 4


def test_a_journal_from_before_the_perceptual_scores_still_loads(kodak_paths, tiny_model, tmp_path, monkeypatch):
    """Records without ``ssimulacra2`` and ``flip`` are taken as they are: the scores count as missing."""
    journal = tmp_path / "images.jsonl"
    kwargs = dict(attacks="none", model=tiny_model, size=SIZE, device="cpu", message_mode="bits", journal=journal)
    bench.run_benchmark(kodak_paths[:2], **kwargs)
    header, *entries = journal.read_text().splitlines()
    old = json.loads(entries[0])
    for record in old["records"].values():
        del record["ssimulacra2"], record["flip"]
    journal.write_text("\n".join([header, json.dumps(old, sort_keys=True), entries[1]]) + "\n")
    calls = _counting_embeds(monkeypatch)
    again = bench.run_benchmark(kodak_paths[:2], **kwargs)
    assert calls == [] and again.settings["resumed"] == 2
    first, second = again.systems[0].images
    assert first.get("ssimulacra2") is None and second["ssimulacra2"] < 100
    (summary,) = again.summary()
    assert summary["ssimulacra2_mean"] == summary["ssimulacra2_min"] == second["ssimulacra2"]
    assert summary["flip_max"] == second["flip"]
    assert "SSIMULACRA 2 worst" in again.to_markdown()
    bench.run_benchmark(kodak_paths[:1], quality=False, **kwargs)  # without the scores: other settings
    assert len(calls) == 1 and len(journal.read_text().splitlines()) == 2


def test_a_journal_of_other_settings_or_a_torn_line(kodak_paths, tiny_model, tmp_path, monkeypatch):
    journal, notes = tmp_path / "images.jsonl", []
    kwargs = dict(model=tiny_model, size=SIZE, device="cpu", message_mode="bits", journal=journal, log=notes.append)
    bench.run_benchmark(kodak_paths[:2], attacks="none", **kwargs)
    with journal.open("a") as out:
        out.write('{"index": 2, "pa')  # a write cut short by Ctrl-C
    calls = _counting_embeds(monkeypatch)
    again = bench.run_benchmark(kodak_paths, attacks="none", **kwargs)
    assert len(calls) == 1 and again.settings["resumed"] == 2
    assert len(journal.read_text().splitlines()) == 4  # the torn line dropped, the third photo added
    other = bench.run_benchmark(kodak_paths[:1], attacks="jpeg50", **kwargs)  # other columns: all again
    assert len(calls) == 2 and other.settings["resumed"] == 0 and "other settings" in notes[-1]
    assert len(journal.read_text().splitlines()) == 2
    reseeded = bench.run_benchmark(kodak_paths[:1], attacks="jpeg50", seed=1, **kwargs)
    assert len(calls) == 3 and reseeded.settings["resumed"] == 0


def test_accuracy_is_measured_on_the_alignment_extract_would_pick(monkeypatch, kodak_paths, tiny_model):
    """A fake decoder: row 0 (the photo as it is) is unsure noise, row 2 is confident and right,
    row 5 unsure and wrong. Raw bits are scored on row 2; extract finds the message there."""
    from wmark import api

    state = {}
    real_embed = api.embed

    def embed(image, message, **kwargs):
        result = real_embed(image, message, **kwargs)
        state["bits"], state["message"] = result.bits, message
        return result

    def decode_probabilities(image, **kwargs):
        if "bits" not in state:  # embed's own look for an earlier mark, before anything was embedded
            return np.full((15, tiny_model.cfg.bits), 0.5), "tiny"
        bits = state["bits"]
        rows = np.full((15, bits.size), 0.5)
        rows[0] = np.where(np.arange(bits.size) % 2, 0.55, 0.45)
        rows[2] = np.where(bits == 1, 0.99, 0.01)
        rows[5] = np.where(bits == 1, 0.4, 0.6)
        return rows, "tiny"

    monkeypatch.setattr(api, "embed", embed)
    monkeypatch.setattr(api, "decode_probabilities", decode_probabilities)
    report = bench.run_benchmark(kodak_paths[:1], attacks="none", model=tiny_model, size=SIZE, device="cpu")
    image = report.systems[0].images[0]
    row = image["attacks"]["none"]
    assert row["accuracy"] == 1.0 and row["accuracy_best"] == 1.0 and row["verified"] is True
    assert 0.2 < row["accuracy_no_search"] < 0.8
    assert row["recovered"] is True and row["accuracy_message"] == 1.0
    assert state["message"].kind == "bytes" and len(state["message"].data) == 3  # 64 raw bits hold 3 bytes
    assert image["clean_found"] is True and image["clean_verified"] is True  # the fake "decodes" clean photos too


def test_a_key_marks_and_reads_every_message(kodak_paths, tiny_model):
    """With a key the messages are embedded and read with it: a clean photo still reads nothing,
    and the keyed marks decode exactly as the unkeyed ones do."""
    keyed, plain = (bench.run_benchmark(kodak_paths[:2], attacks="none", model=tiny_model, size=SIZE, device="cpu",
                                        message_mode="text", key=key) for key in (b"k" * 16, None))
    assert keyed.settings["keyed"] and not plain.settings["keyed"]
    for run in (keyed, plain):
        (system,) = run.systems
        assert [image["attacks"]["none"]["recovered"] for image in system.images] == [True, True]
        assert not any(image["clean_found"] for image in system.images)


def test_ismark_options_reach_the_ismark_method(kodak_paths, tiny_model, monkeypatch):
    from wmark import IsmarkOptions, api

    seen, embed = [], api.embed

    def spy(*args, **kwargs):
        seen.append((kwargs["method"], kwargs["ismark"]))
        return embed(*args, **kwargs)

    monkeypatch.setattr(api, "embed", spy)
    options = IsmarkOptions(iterations=1, attacks="blur")
    report = bench.run_benchmark(kodak_paths[:1], attacks="none", method="encoder,ismark", model=tiny_model,
                                 size=SIZE, device="cpu", message_mode="bits", ismark=options)
    assert seen == [("encoder", None), ("ismark", options)]
    assert "iterations=1" in report.settings["ismark"]


def test_unreadable_photo_is_skipped_or_raised(tmp_path, kodak_paths, tiny_model):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    seen = []
    report = bench.run_benchmark([bad, kodak_paths[0]], attacks="none", model=tiny_model, size=SIZE, device="cpu",
                                 message_mode="bits", on_error=lambda path, error: seen.append(path),
                                 progress=lambda done, total, label: seen.append((done, total)))
    assert seen[0] == bad and seen[-1] == (2, 2)
    assert report.settings["images"] == 1 and report.skipped[0]["kind"] == "photo"
    with pytest.raises(InputError):
        bench.run_benchmark([bad], attacks="none", model=tiny_model, size=SIZE, device="cpu")


def test_bad_settings_are_usage_errors(kodak_paths, tiny_model):
    for kwargs in ({"method": "magic"}, {"message_mode": "all"}, {"size": 10}, {"strength": 0},
                   {"peers": ["nope"]}, {"text": "far too long for 64 bits"}):
        with pytest.raises(UsageError):
            bench.run_benchmark(kodak_paths, attacks="none", model=tiny_model, device="cpu", **kwargs)


def test_missing_peer_is_reported_not_fatal(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "blind_watermark", None)  # import fails
    peers, missing = bench.load_peers(64, ["blind-watermark"])
    assert peers == [] and missing[0]["name"] == "blind-watermark" and "wmark[bench]" in missing[0]["reason"]


def test_a_peer_side_by_side(kodak_paths, tiny_model):
    pytest.importorskip("imwatermark")
    pytest.importorskip("pywt")
    report = bench.run_benchmark(kodak_paths[:1], attacks="none", model=tiny_model, size=256, device="cpu",
                                 message_mode="bits", peers=["dwtDctSvd"])
    ours, peer = report.summary()
    assert peer["name"] == "dwtDctSvd" and peer["peer"] and peer["bits"] == 64
    assert 0.9 <= peer["attacks"]["none"]["accuracy"] <= 1 and math.isfinite(peer["psnr_mean"])
    assert 0 < peer["ssimulacra2_mean"] <= 100 and 0 <= peer["flip_max"] < 1
    assert report.settings["versions"]["invisible-watermark"]
    assert "dwtDctSvd (64 bits)" in report.to_markdown()


# --------------------------------------------------------------------------- command line


def test_cli_writes_the_report(tiny_zoo, photos, tmp_path):
    out = tmp_path / "report"
    result = invoke("bench", photos, "--attacks", ATTACKS, "--size", SIZE, "--messages", "bits",
                    "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "| `jpeg50` |" in result.stdout and "wmark encoder (64 bits)" in result.stdout
    assert "| PSNR mean (dB) |" in result.stdout and "| SSIMULACRA 2 mean | SSIMULACRA 2 worst |" in result.stdout
    assert "| FLIP mean | FLIP worst |" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted([*REPORT_FILES, "images.jsonl"])
    data = json.loads((out / "report.json").read_text())
    assert data["settings"]["images"] == 3 and data["settings"]["model"] == "tiny"
    assert data["settings"]["command"].startswith("wmark bench ") and "--attacks none,jpeg50" in \
        data["settings"]["command"]
    assert (out / "report.md").read_text().rstrip("\n") == result.stdout.rstrip("\n")
    # Again: every photo comes from images.jsonl, the same numbers; --fresh measures them again.
    again = invoke("bench", photos, "--attacks", ATTACKS, "--size", SIZE, "--messages", "bits",
                   "--out", out, "--device", "cpu", "--json")
    assert again.exit_code == 0 and "3 photo(s) already measured" in again.stderr
    redone = json.loads(again.stdout)
    assert redone["settings"]["resumed"] == 3
    assert redone["summary"][0]["attacks"] == data["summary"][0]["attacks"]
    fresh = invoke("bench", photos, "--attacks", ATTACKS, "--size", SIZE, "--messages", "bits",
                   "--out", out, "--device", "cpu", "--json", "--fresh")
    assert fresh.exit_code == 0 and json.loads(fresh.stdout)["settings"]["resumed"] == 0


def test_cli_json_and_limit(tiny_zoo, photos):
    result = invoke("bench", photos, "--attacks", "rot2", "--size", SIZE, "--limit", 1, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["settings"]["images"] == 1 and list(data["settings"]["attacks"]) == ["rot2"]
    assert 0 <= data["summary"][0]["attacks"]["rot2"]["accuracy"] <= 1
    assert data["summary"][0]["ssimulacra2_mean"] < 100 and data["images"]["wmark encoder"][0]["flip"] > 0


def test_cli_no_quality(tiny_zoo, photos):
    result = invoke("bench", photos, "--attacks", "none", "--size", SIZE, "--limit", 1, "--messages", "bits",
                    "--no-quality", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "| PSNR mean (dB) |" in result.stdout and "SSIMULACRA" not in result.stdout
    data = json.loads(invoke("bench", photos, "--attacks", "none", "--size", SIZE, "--limit", 1, "--messages",
                             "bits", "--no-quality", "--device", "cpu", "--json").stdout)
    assert "--no-quality" in data["settings"]["command"] and data["settings"]["quality"] is False
    assert "flip_mean" not in data["summary"][0] and "flip" not in data["images"]["wmark encoder"][0]


def test_cli_social_and_screenshot_columns(tiny_zoo, photos):
    result = invoke("bench", photos, "--attacks", "flip", "--preset", "screenshot", "--size", SIZE,
                    "--max-images", 1, "--messages", "bits", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data["settings"]["attacks"]) == ["flip", *GROUPS["screenshot"]]
    assert "--attacks flip,screenshot" in data["settings"]["command"] and data["settings"]["images"] == 1
    (image,) = data["images"]["wmark encoder"]
    assert image["extract_megapixels"] > image["megapixels"]  # social+screenshot reads a 1080 px photo
    for column in data["settings"]["attacks"]:
        assert 0 <= data["summary"][0]["attacks"][column]["accuracy"] <= 1
    assert invoke("bench", photos, "--preset", "instagram").exit_code == EXIT_USAGE


def test_cli_errors(tiny_zoo, photos, tmp_path):
    unknown = invoke("bench", photos, "--attacks", "jpeg50,bogus")
    assert unknown.exit_code == EXIT_USAGE and "unknown attack 'bogus'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    assert invoke("bench", photos, "--attacks", "jpeg=500").exit_code == EXIT_USAGE
    assert invoke("bench", photos, "--method", "magic").exit_code == EXIT_USAGE
    assert invoke("bench", photos, "--size", 10).exit_code == EXIT_USAGE
    missing = invoke("bench", tmp_path / "nowhere")
    assert missing.exit_code == EXIT_INPUT and len(missing.output.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    assert invoke("bench", tmp_path / "empty").exit_code == EXIT_INPUT
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert invoke("bench", photos, "--out", blocker).exit_code == EXIT_OUTPUT


def test_cli_key(tiny_zoo, photos, tmp_path):
    key = tmp_path / "owner.key"
    assert invoke("keygen", "-o", key).exit_code == 0
    result = invoke("bench", photos, "--attacks", "none", "--size", SIZE, "--messages", "text", "--limit", 1,
                    "--key", key, "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["settings"]["keyed"] and f"--key {key}" in data["settings"]["command"]
    assert data["summary"][0]["attacks"]["none"]["recovered"] == 1
    (tmp_path / "bad.key").write_text("not hex")
    bad = invoke("bench", photos, "--key", tmp_path / "bad.key")
    assert bad.exit_code == EXIT_USAGE and len(bad.output.strip().splitlines()) == 1


def test_cli_bad_photo_is_skipped_with_exit_3(tiny_zoo, photos, tmp_path):
    (photos / "zz_broken.png").write_bytes(b"not a png")
    out = tmp_path / "report"
    result = invoke("bench", photos, "--attacks", "none", "--size", SIZE, "--messages", "bits", "--out", out,
                    "--device", "cpu")
    assert result.exit_code == EXIT_INPUT
    assert "zz_broken.png" in result.output
    assert json.loads((out / "report.json").read_text())["settings"]["images"] == 3


def test_the_default_set_up_installs_the_chart():
    """scripts/setup.sh (the README's set-up, and CI's) installs an extra that holds matplotlib."""
    import re
    import tomllib

    root = Path(__file__).resolve().parent.parent
    [extras] = re.findall(r'install -e "\.\[([\w,-]+)\]"', (root / "scripts" / "setup.sh").read_text())
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(re.match(r"matplotlib\b", requirement) for extra in extras.split(",") for requirement in declared[extra])


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed (bash scripts/setup.sh installs it)")
def test_cli_bench_out_draws_robustness_png(tiny_zoo, photos, tmp_path):
    """``wmark bench photos/ --out r/`` writes r/robustness.png, a picture of the report."""
    from PIL import Image

    out = tmp_path / "r"
    result = invoke("bench", photos, "--out", out, "--attacks", "none,jpeg50", "--size", SIZE, "--limit", 2,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    with Image.open(out / "robustness.png") as chart:
        chart.load()
        assert chart.format == "PNG" and chart.width == 800
        assert len(np.unique(np.asarray(chart.convert("RGB")).reshape(-1, 3), axis=0)) > 10  # not blank
    assert "robustness.png" in result.stderr and "not drawn" not in result.stderr
