"""Training (wmark.train) with the ``tiny`` preset on a few synthetic photos: a run writes
its checkpoint, weights and log; a resumed run continues exactly where it stopped; the
exported weights load through the zoo's checked loader; and the model can learn."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from wmark import zoo
from wmark.errors import ModelError
from wmark.models.network import WatermarkModel
from wmark.train import (
    PRESETS,
    PhotoCrops,
    TrainConfig,
    Trainer,
    read_name_list,
    to_tensor,
    train,
    training_psnr,
    warm_start,
)

TINY = replace(PRESETS["tiny"], val_every=4)  # validate (and log) at steps 4, 8, ...


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Six small random-texture PNGs of different sizes and orientations."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(96, 72), (72, 96), (80, 80), (120, 70), (64, 64), (100, 90)]):
        coarse = Image.fromarray((rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        fine = rng.normal(0, 12, (h, w, 3))
        rgb = np.clip(np.asarray(coarse, dtype=np.float64) + fine, 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"photo{i}.png")
    (folder / "notes.txt").write_text("not a photo")  # ignored
    return folder


def quiet(lines: list[str]):
    return lines.append


def test_tiny_preset_is_tiny_and_round_trips():
    cfg = PRESETS["tiny"]
    assert cfg.model.size == 64 and cfg.model.bits == 16 and cfg.batch_size <= 4
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # tuples survive JSON
    with pytest.raises(ValueError, match="unknown training options: bogus"):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="unknown model options"):
        TrainConfig.from_dict({**cfg.to_dict(), "model": {"bits": 8, "layers": 3}})


def test_training_psnr_ramps_from_start_to_target():
    cfg = TINY  # start 25 dB, model 30 dB, ramp over steps 5..20
    assert training_psnr(cfg, 0) == training_psnr(cfg, 5) == pytest.approx(25.0)
    assert training_psnr(cfg, 20) == training_psnr(cfg, 1000) == pytest.approx(30.0)
    assert 25.0 < training_psnr(cfg, 12) < 30.0


def test_photo_crops(photos, tmp_path):
    crops = PhotoCrops(photos)
    assert len(crops) == 6
    batch = crops.random_batch(5, 32, np.random.default_rng(0))
    assert batch.shape == (5, 3, 32, 32) and batch.dtype == torch.float32
    assert 0 <= batch.min() and batch.max() <= 1
    assert torch.equal(batch, crops.random_batch(5, 32, np.random.default_rng(0)))
    assert crops.centre_batch(2, 16).shape == (2, 3, 16, 16)
    assert len(PhotoCrops(photos, limit=2)) == 2
    with pytest.raises(FileNotFoundError):
        PhotoCrops(tmp_path)
    torch.testing.assert_close(to_tensor(np.full((1, 2, 2, 3), 255, np.uint8)), torch.ones(1, 3, 2, 2))


def test_trainer_runs_and_writes_its_files(photos, tmp_path):
    lines: list[str] = []
    trainer = Trainer(TINY, photos, tmp_path / "run", log=quiet(lines))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    stats = trainer.train_step()
    assert set(stats) == {"loss", "acc", "psnr"} and np.isfinite(stats["loss"]) and 0 <= stats["acc"] <= 1
    assert stats["psnr"] == pytest.approx(TINY.start_psnr)
    trainer.run(8)  # past noise_free_steps = 5: the mixer and its curriculum are in use
    assert trainer.step == 8
    changed = [k for k, v in trainer.model.state_dict().items() if v.dtype.is_floating_point
               and not torch.equal(v, before[k])]
    assert changed, "training changed no weight"
    assert trainer.mixer.accuracy != {name: 0.5 for name in trainer.mixer.accuracy}  # curriculum updated

    run = tmp_path / "run"
    assert {"checkpoint.pt", "model.pt", "log.jsonl"} <= {p.name for p in run.iterdir()}
    assert not list(run.glob("*.tmp"))
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [4, 8]
    for record in records:
        assert {"none", "jpeg50", "webp75", "rot2", "psnr", "curriculum"} <= set(record)
        assert all(0 <= record[k] <= 1 for k in ("none", "jpeg50", "sat0"))
    assert any(line.startswith("val step 8") for line in lines)

    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 8
    assert TrainConfig.from_dict(checkpoint["config"]) == TINY
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(checkpoint["model"][key], value), key


def test_resume_continues_exactly_where_it_stopped(photos, tmp_path):
    lines: list[str] = []
    # Reference: 9 steps in one go (noise from step 5 on: every RNG stream is in use).
    straight = Trainer(TINY, photos, tmp_path / "straight", log=quiet(lines))
    straight.run(9)

    # The same run stopped at step 7 and resumed through train(resume=True).
    train(TINY, photos, tmp_path / "resumed", steps=7, log=quiet(lines))
    saved = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 7
    stopped = Trainer(TINY, photos, tmp_path / "resumed", log=quiet(lines))
    stopped.resume()
    assert stopped.step == 7
    adam = stopped.optimizer.state_dict()["state"]
    assert adam and all(int(s["step"]) == 7 for s in adam.values())
    for index, state in saved["optimizer"]["state"].items():
        assert torch.equal(adam[index]["exp_avg"], state["exp_avg"])
    assert stopped.mixer.accuracy == saved["mixer"]["accuracy"]

    # A changed preset on the command line does not override the checkpoint's config.
    path = train(replace(TINY, lr=1.0), photos, tmp_path / "resumed", steps=9, resume=True, log=quiet(lines))
    assert "resumed at step 7" in lines
    assert path == tmp_path / "resumed" / "model.pt"
    final = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert final["step"] == 9
    assert all(int(s["step"]) == 9 for s in final["optimizer"]["state"].values())
    assert final["optimizer"]["param_groups"][0]["lr"] == TINY.lr
    # Weights, optimiser moments and RNG streams all restored: bit-identical to the straight run.
    for key, value in straight.model.state_dict().items():
        assert torch.equal(final["model"][key], value), key
    assert final["mixer"]["accuracy"] == straight.mixer.accuracy


def test_resume_without_a_checkpoint_starts_fresh(photos, tmp_path):
    lines: list[str] = []
    train(TINY, photos, tmp_path / "fresh", steps=2, resume=True, log=quiet(lines))
    assert not any("resumed" in line for line in lines)
    assert torch.load(tmp_path / "fresh" / "checkpoint.pt", weights_only=True)["step"] == 2


def test_exported_weights_load_through_the_zoo(photos, tmp_path):
    path = train(TINY, photos, tmp_path / "run", steps=2, log=quiet([]))
    digest = zoo.sha256_of(path)
    model = zoo.load_weights(path, sha256=digest)
    assert isinstance(model, WatermarkModel) and not model.training
    assert model.cfg == TINY.model
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, checkpoint["model"][key]), key
    assert zoo.load_weights(path).cfg == TINY.model  # no sha given: no check

    wrong = "0" * 64
    with pytest.raises(ModelError, match="sha256"):
        zoo.load_weights(path, sha256=wrong)
    tampered = tmp_path / "tampered.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        zoo.load_weights(tampered, sha256=digest)
    with pytest.raises(ModelError):
        zoo.load_weights(tmp_path / "missing.pt", sha256=digest)


def test_a_few_steps_lower_the_message_loss(photos):
    torch.manual_seed(0)
    model = WatermarkModel(TINY.model).train()
    covers = PhotoCrops(photos).random_batch(8, TINY.model.size, np.random.default_rng(1))
    bits = torch.randint(0, 2, (8, TINY.model.bits), generator=torch.Generator().manual_seed(2)).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    amplitude = 0.1  # 20 dB: loud, so that the message is easy to read
    losses, accuracies = [], []
    for _ in range(30):
        logits = model.decoder(covers + amplitude * model.encoder(covers, bits))
        loss = F.binary_cross_entropy_with_logits(logits, bits)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        accuracies.append(float(((logits > 0) == bits.bool()).float().mean()))
    assert losses[-1] < 0.5 * losses[0], losses
    assert accuracies[-1] >= 0.85 and accuracies[0] < 0.7, accuracies  # chance at the start


def test_psnr_control_follows_the_decoder(photos, tmp_path):
    cfg = replace(PRESETS["tiny"], psnr_control=(0.8, 0.9), psnr_step=0.5)
    trainer = Trainer(cfg, photos, tmp_path / "run", log=quiet([]))
    trainer.step = cfg.psnr_ramp[0]
    start = trainer.current_psnr()
    assert start == cfg.start_psnr
    trainer.adapt_psnr(0.9)
    assert trainer.current_psnr() == pytest.approx(start + 0.5)  # good window: quieter
    trainer.adapt_psnr(0.85)
    assert trainer.current_psnr() == pytest.approx(start + 0.5)  # in between: held
    trainer.adapt_psnr(1.0)
    assert trainer.current_psnr() == pytest.approx(start + 2.5)  # far above: up to 4 steps at once
    for _ in range(6):
        trainer.adapt_psnr(0.5)
    assert trainer.current_psnr() == cfg.start_psnr  # bad windows: louder, never past the start
    for _ in range(100):
        trainer.adapt_psnr(1.0)
    assert trainer.current_psnr() == cfg.model.psnr  # never quieter than the target


def test_decoder_enhancing_moves_only_the_decoder(photos):
    from wmark.enhance import EnhanceConfig, enhance

    torch.manual_seed(0)
    model = WatermarkModel(TINY.model)
    crops = PhotoCrops(photos)
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    decoder = {k: v.clone() for k, v in model.decoder.state_dict().items()}
    cfg = EnhanceConfig(iterations=2, sub_iterations=2, batch_size=2, opt_iterations=2, opt_share=1.0)
    side = TINY.model.size * cfg.photo_scale
    history = enhance(model, lambda count, rng: crops.random_batch(count, side, rng), cfg, log=quiet([]))
    assert len(history) == 2 and all(np.isfinite(history))
    assert all(torch.equal(v, model.encoder.state_dict()[k]) for k, v in encoder.items())
    assert any(not torch.equal(v, model.decoder.state_dict()[k]) for k, v in decoder.items())


def test_enhancing_marks_photos_as_embed_does(photos):
    import cv2

    from wmark import api
    from wmark.enhance import EnhanceConfig, _mark

    torch.manual_seed(0)
    model = WatermarkModel(TINY.model)
    pixels = [np.ascontiguousarray(p) for p in (PhotoCrops(photos).centre_batch(2, 64) * 255).round()
              .to(torch.uint8).permute(0, 2, 3, 1).numpy()]
    bits = torch.randint(0, 2, (2, TINY.model.bits)).float()
    cfg = EnhanceConfig(strengths=(0.5, 2.0))
    marked = _mark(model, pixels, bits, cfg, opt=False, rng=np.random.default_rng(0))
    for photo, row, out in zip(pixels, bits.numpy(), marked):
        made = [cv2.add(api.encoder_mark(model, photo, row, s, "cpu"), photo, dtype=cv2.CV_8U) for s in cfg.strengths]
        assert any(np.array_equal(out, image) for image in made)
        assert not np.array_equal(out, photo)


def test_enhancing_draws_the_weakest_attack_most():
    from wmark.enhance import FAMILIES, draw_attack

    rng = np.random.default_rng(0)
    errors = dict.fromkeys(FAMILIES, 0.01) | {"rotate": 0.3}
    families = [draw_attack(errors, 0.5, rng)[0] for _ in range(2000)]
    assert families.count("rotate") > 3 * families.count("jpeg")
    even = [draw_attack(errors, 0.0, rng)[0] for _ in range(2000)]
    assert abs(even.count("rotate") - even.count("jpeg")) < 80
    assert set(even) == set(FAMILIES)
    for family in FAMILIES:
        _, chain = draw_attack(dict.fromkeys(FAMILIES, 0.0) | {family: 1.0}, 1.0, rng)
        assert (chain == []) == (family == "none")


def test_abstaining_makes_the_decoder_unsure_of_unmarked_photos(photos):
    from wmark.enhance import EnhanceConfig, enhance

    crops = PhotoCrops(photos)
    side = TINY.model.size * 4
    unmarked = torch.nn.functional.interpolate(crops.centre_batch(2, side), size=TINY.model.size, mode="area")

    def confidence_after(abstain: float) -> float:
        torch.manual_seed(0)
        model = WatermarkModel(TINY.model)
        cfg = EnhanceConfig(iterations=3, sub_iterations=4, batch_size=2, lr=3e-3, abstain=abstain)
        enhance(model, lambda count, rng: crops.random_batch(count, side, rng), cfg, log=quiet([]))
        with torch.no_grad():
            return float((2 * torch.sigmoid(model.decoder(unmarked)) - 1).abs().mean())

    assert confidence_after(10.0) < confidence_after(0.0)


def test_the_train_command(photos, tmp_path):
    from typer.testing import CliRunner

    from wmark.cli import app

    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--preset", "tiny", "--data", str(photos), "--out", str(run),
                                 "--steps", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (run / "model.pt").is_file() and result.stdout.strip() == str(run / "model.pt")
    again = runner.invoke(app, ["train", "--preset", "tiny", "--data", str(photos), "--out", str(run),
                                "--steps", "5", "--resume"])
    assert again.exit_code == 0 and "resumed at step 3" in again.output
    enhanced = runner.invoke(app, ["train", "--data", str(photos), "--out", str(tmp_path / "enh"),
                                   "--enhance", str(run / "model.pt"), "--rounds", "1", "--abstain", "1"])
    assert enhanced.exit_code == 0, enhanced.output
    assert zoo.load_weights(tmp_path / "enh" / "model.pt").cfg == TINY.model
    bad = runner.invoke(app, ["train", "--preset", "nope", "--data", str(photos), "--out", str(run)])
    assert bad.exit_code == 2 and "unknown preset" in bad.output
    import typing

    from wmark.cli import models
    from wmark.train import PRESETS

    option = typing.get_type_hints(models.train, include_extras=True)["preset"].__metadata__[0]
    assert set(option.help.split("(")[1].split(")")[0].split(", ")) == set(PRESETS)  # the help names every preset


def test_enhancing_reads_a_mirrored_photo_at_its_alignment():
    from types import SimpleNamespace

    from wmark.enhance import _aligned

    # A stand-in decoder that reads 16 bits from the top row: mirroring scrambles them.
    model = SimpleNamespace(decoder=lambda x: x[:, 0, 0, :16] - 0.5, cfg=SimpleNamespace(size=32))
    pixels = (np.random.default_rng(0).random((32, 32, 3)) > 0.5).astype(np.uint8) * 255
    image = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    bits = (model.decoder(image) > 0).float()
    mirrored = np.ascontiguousarray(pixels[:, ::-1])
    assert ((model.decoder(image.flip(-1)) > 0).float() == bits).float().mean() < 0.9
    torch.testing.assert_close(_aligned(model, [mirrored], bits), image)
    torch.testing.assert_close(_aligned(model, [pixels], bits), image)  # already readable: unchanged


def test_the_held_out_split_is_never_trained_or_validated_on(photos, tmp_path):
    names = tmp_path / "heldout.txt"
    names.write_text("# held out\nphoto1.png\nphoto3.png  # a comment\n\n")
    assert read_name_list(names) == {"photo1.png", "photo3.png"}
    assert len(PhotoCrops(photos, exclude=read_name_list(names))) == 4
    cfg = replace(TINY, exclude=str(names))
    lines: list[str] = []
    trainer = Trainer(cfg, photos, tmp_path / "run", log=lines.append)
    assert len(trainer.train_photos) == 4 and "training on 4 photos" in lines
    assert not read_name_list(names) & set(trainer.train_photos.names)


def test_the_packaged_held_out_split_names_photos_of_shared_data():
    split = read_name_list(Path(__file__).parent.parent / "benchmarks" / "heldout.txt")
    assert len(split) == 146
    assert all(name.lower().endswith((".png", ".jpg")) for name in split)


def test_warm_start_folds_an_rgb_model_into_a_luma_one():
    """The luma model reads a grey photo exactly as its RGB parent did; new layers (here a
    wider message) start fresh and are named."""
    torch.manual_seed(0)
    rgb = WatermarkModel(PRESETS["tiny"].model).eval()
    luma_model = WatermarkModel(replace(rgb.cfg, luma=True)).eval()
    assert warm_start(luma_model, rgb.state_dict()) == []
    grey = torch.rand(2, 1, 64, 64).expand(-1, 3, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(luma_model.decoder(grey), rgb.decoder(grey), atol=1e-5, rtol=1e-4)
    wider = WatermarkModel(replace(rgb.cfg, luma=True, bits=32))
    fresh = warm_start(wider, rgb.state_dict())
    assert fresh and all(name.startswith(("encoder.message", "decoder.fc", "decoder.to_bits")) for name in fresh)


def test_the_train_command_excludes_the_held_out_split_when_enhancing(photos, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import wmark.train as train_module
    from wmark.cli import app

    names = tmp_path / "heldout.txt"
    names.write_text("photo1.png\nphoto3.png\n")
    seen: list[list[str]] = []
    original = train_module.PhotoCrops.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.names)

    monkeypatch.setattr(train_module.PhotoCrops, "__init__", recording)
    runner = CliRunner()
    weights = tmp_path / "run" / "model.pt"
    trained = runner.invoke(app, ["train", "--preset", "tiny", "--data", str(photos), "--out", str(weights.parent),
                                  "--steps", "2", "--device", "cpu", "--exclude", str(names)])
    assert trained.exit_code == 0, trained.output
    enhanced = runner.invoke(app, ["train", "--data", str(photos), "--out", str(tmp_path / "enh"),
                                   "--enhance", str(weights), "--rounds", "1", "--exclude", str(names)])
    assert enhanced.exit_code == 0, enhanced.output
    assert seen and all(not {"photo1.png", "photo3.png"} & set(batch) for batch in seen)
    settings = json.loads((tmp_path / "enh" / "model.pt.json").read_text())
    assert settings["exclude"] == str(names)
    missing = runner.invoke(app, ["train", "--data", str(photos), "--out", str(tmp_path / "x"),
                                  "--exclude", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "is not a file" in missing.output
