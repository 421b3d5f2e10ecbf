"""``--ray`` and :mod:`wmark.distributed` on a local Ray instance (skipped without ``wmark[ray]``).

One small instance (2 CPUs) for the module; 50 small photos cut from the Kodak test
photos, plus one corrupt file. The packaged model runs in the actors, as in production.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wmark.errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE
from helpers import invoke

PHOTOS = 50


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, kodak_rgbs: list[np.ndarray]) -> Path:
    """50 crops of 64 to 96 px (PNG and JPEG) and ``broken.jpg``, which is not an image."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for index in range(PHOTOS):
        rgb = kodak_rgbs[index % len(kodak_rgbs)]
        height, width = rng.integers(64, 97, size=2)
        top, left = rng.integers(0, rgb.shape[0] - height), rng.integers(0, rgb.shape[1] - width)
        name = f"p{index:02d}.{'png' if index % 2 else 'jpg'}"
        Image.fromarray(rgb[top:top + height, left:left + width]).save(folder / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_embed_and_extract_on_ray_match_the_single_machine_run(ray_instance, folder, tmp_path):
    # --method encoder: these 64–96 px crops often fail the self-check, and auto would
    # then spend ~30 s of ISMark on each; parity of the two paths is what is tested here.
    single = invoke("embed", folder, "--msg", "owner", "-o", tmp_path / "single", "--json", "-j", "2",
                    "--method", "encoder")
    ray = invoke("embed", folder, "--msg", "owner", "-o", tmp_path / "ray", "--json", "--ray", "local",
                 "--method", "encoder")
    assert single.exit_code == ray.exit_code == EXIT_INPUT  # the broken file; every other photo marked
    def same(stream: str) -> str:
        return stream.replace(str(tmp_path / "ray"), "OUT").replace(str(tmp_path / "single"), "OUT")

    assert same(ray.stdout) == same(single.stdout)  # the same records, in input order
    # The same notes and error lines (-j 2 prints its notes as photos finish, Ray in input order).
    assert sorted(same(ray.stderr).splitlines()) == sorted(same(single.stderr).splitlines())
    lines = [json.loads(line) for line in ray.stdout.splitlines()]
    assert lines[0]["path"].endswith("broken.jpg") and lines[0]["exit_code"] == EXIT_INPUT
    assert "broken.jpg" in ray.stderr and ray.stderr.count("error:") == 1
    assert len(lines) == PHOTOS + 1 and all("psnr" in line for line in lines[1:])
    outputs = sorted(path.name for path in (tmp_path / "ray").iterdir())
    assert outputs == sorted(path.name for path in (tmp_path / "single").iterdir()) and len(outputs) == PHOTOS
    for name in outputs:  # byte-identical images (one torch thread here and in each actor: the same sums)
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "single" / name).read_bytes(), name

    again = invoke("embed", folder, "--msg", "owner", "-o", tmp_path / "ray", "--ray", "local", "--method", "encoder")
    assert again.exit_code == EXIT_INPUT and again.stderr.count("exists, skipped") == PHOTOS  # a re-run skips

    marked = sorted((tmp_path / "ray").glob("*.png"))[:16]  # (fewer, to keep the test short)
    here, there = invoke("extract", *marked, "--json"), invoke("extract", *marked, "--json", "--ray", "local")
    assert there.stdout == here.stdout and there.exit_code == here.exit_code
    assert len(there.stdout.splitlines()) == len(marked) and there.stdout.count('"owner"') > len(marked) / 2


def test_map_batches_classes(ray_instance, folder, tmp_path):
    from wmark.distributed import Embedder, Extractor, Verifier

    paths = [folder / "broken.jpg", *sorted(folder.glob("p0*.png"))[:4]]
    dataset = ray_instance.data.from_items([{"path": str(path)} for path in paths])
    rows = dataset.map_batches(Embedder, fn_constructor_kwargs={"message": "owner", "output_dir": tmp_path,
                                                                      "method": "encoder"},
                               batch_size=2, compute=ray_instance.data.ActorPoolStrategy(size=1)).take_all()
    assert sorted(row["path"] for row in rows) == sorted(map(str, paths))
    broken = next(row for row in rows if row["path"].endswith("broken.jpg"))
    assert broken["exit_code"] == EXIT_INPUT and "broken.jpg" in broken["error"] and broken["output"] is None
    outputs = sorted(row["output"] for row in rows if row["exit_code"] == EXIT_OK)
    assert outputs == [str(tmp_path / path.name) for path in paths[1:]]
    assert all(row["psnr"] > 35 and row["skipped"] is False for row in rows if row["exit_code"] == EXIT_OK)

    # The classes are plain callables on a batch of paths: the same rows without Ray.
    batch = {"path": np.array([*outputs, str(folder / "broken.jpg")])}
    found = Extractor(device="cpu")(batch)
    assert found["message"][:4] == ["owner"] * 4 and found["exit_code"] == [EXIT_OK] * 4 + [EXIT_INPUT]
    decided = Verifier("owner", device="cpu")(batch)
    assert decided["match"][:4] == [True] * 4 and decided["error"][:4] == [None] * 4
    again = Embedder("owner", output_dir=tmp_path, device="cpu", method="encoder")({"path": np.array(list(map(str, paths[1:])))})
    assert again["skipped"] == [True] * 4  # existing outputs are left alone without force


def test_ray_without_the_extra_names_it(monkeypatch, kodak_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails
    result = invoke("extract", kodak_path, "--ray", "local")
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith("error: Ray is not installed") and "pip install 'wmark[ray]'" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


@pytest.mark.parametrize("command", [("embed", "--msg", "x"), ("extract",), ("verify", "--msg", "x")])
def test_bad_address_is_a_usage_error(command, kodak_path):
    pytest.importorskip("ray")
    result = invoke(command[0], kodak_path, *command[1:], "--ray", "photos/")
    assert result.exit_code == EXIT_USAGE and "a Ray address is local, auto, HOST:PORT" in result.stderr
