"""Reliability and security (issue 9): what docs/guarantees.md promises, proven here.

- every command on every item of a generated bad-input corpus (``tests/corpus.py``):
  the documented exit status, one ``error:`` line, no traceback, no file left behind,
  the input byte-identical; and a fuzz test (hypothesis) mutating valid photos;
- tampered, truncated and code-carrying model files are refused (exit 5), no code runs,
  and nothing in wmark calls ``torch.load`` without ``weights_only=True``;
- Ctrl-C and SIGTERM during a batch embed (a real ``wmark`` process): exit 130, finished
  outputs complete, no temporary file; running it again finishes the rest, skipping
  (not redoing) the finished ones;
- two ``wmark embed`` processes writing into one folder at once corrupt nothing;
- (slow) a 50 MP photo through ``extract`` and ``embed``: peak memory measured and bounded.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from corpus import COMMANDS, ITEMS, encoded, photo
from wmark.cli import app
from wmark.errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_MODEL

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


# --------------------------------------------------------------------------- helpers


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): a regular file by its sha256,
    anything else by its kind. Equal snapshots: nothing written, nothing changed."""
    entries = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            relative = os.path.relpath(path, folder)
            if os.path.isfile(path) and not os.path.islink(path):
                if info.st_mode & 0o444 == 0:  # unreadable item: its mode and size stand for it
                    entries[relative] = f"file {info.st_mode:o} {info.st_size}"
                else:
                    entries[relative] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            else:
                entries[relative] = "link" if os.path.islink(path) else oct(info.st_mode)
    return entries


def temporary_files(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".") or name.endswith(".tmp")]


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_clean_run(result) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def assert_complete_image(path: Path, size: tuple[int, int] | None = None) -> None:
    with Image.open(path) as image:
        image.load()  # raises on a truncated file
        assert size is None or image.size == size, (path, image.size, size)


@contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def command_args(command: str, words: list[str], folder: Path) -> list[str]:
    options = {
        "embed": ["embed", "--msg", "hi", "--device", "cpu"],
        "extract": ["extract", "--device", "cpu"],
        "verify": ["verify", "--msg", "hi", "--device", "cpu"],
        "attack": ["attack", "--jpeg", "50", "-o", str(folder / "attacked.png")],
        "bench": ["bench", "--attacks", "jpeg50", "--size", "64", "--messages", "bits", "--device", "cpu"],
    }[command]
    return options + words  # the item last: it may start with ``--``


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("item", ITEMS, ids=[item.name for item in ITEMS])
def test_corpus(item, command, tiny_zoo, tmp_path, monkeypatch):
    if item.needs == "non-root" and os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not stop root from reading")
    folder = tmp_path / "case"
    folder.mkdir()
    monkeypatch.chdir(folder)
    words = item.make(folder)
    before = snapshot(folder)
    with deadline(30):  # a FIFO or a bomb must never hang a run
        result = runner.invoke(app, command_args(command, words, folder))
    assert_clean_run(result)
    assert result.exit_code in item.codes(command), (result.exit_code, result.output)
    after = snapshot(folder)
    assert {name: after.get(name) for name in before} == before, "an input changed"
    new = set(after) - set(before)
    if result.exit_code in (0, 1):  # done (1: no watermark in this unmarked photo)
        assert not any(line.startswith("error:") for line in error_lines(result)), result.stderr
        source = Path(words[-1])
        expected = {"embed": {f"{source.stem}.wm{source.suffix}"}, "attack": {"attacked.png"}}.get(command, set())
        assert new == expected, new
        for name in new:
            assert_complete_image(folder / name)
    else:
        assert new == set(), f"left behind: {new}"
        (line,) = error_lines(result)
        assert line.startswith("error: ") and len(line) < 800, line


def test_guarantees_section_is_current():
    """docs/guarantees.md quotes the corpus size and names tests that exist."""
    section = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    assert f"corpus of {len(ITEMS)} inputs" in section
    source = Path(__file__).read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_\w+)", section))
    assert named and all(f"def {name}(" in source for name in named), named - set(re.findall(r"def (test_\w+)", source))


def test_embed_keeps_odd_inputs_usable(tiny_zoo, tmp_path):
    """What embed does with valid-but-odd inputs: see docs/guarantees.md for the rule."""
    cases = {"deep.png": ("png-16bit-rgb", "RGB"), "palette.png": ("palette-transparency", "RGBA"),
             "cmyk.jpg": ("cmyk-jpeg", "RGB"), "anim.webp": ("animated-webp", "RGB")}
    by_name = {item.name: item for item in ITEMS}
    for name, (item_name, mode) in cases.items():
        folder = tmp_path / item_name
        folder.mkdir()
        (source,) = by_name[item_name].make(folder)
        result = runner.invoke(app, ["embed", source, "--msg", "hi", "--device", "cpu"])
        assert result.exit_code == 0, result.output
        output = Path(source).with_name(Path(name).stem + ".wm" + Path(name).suffix)
        with Image.open(output) as marked, Image.open(source) as original:
            assert marked.size == original.size and marked.mode == mode, (name, marked.mode)
            assert getattr(marked, "n_frames", 1) == 1  # animations: the first frame only


def _mutate(data: bytes, edits: list[tuple[str, float, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in edits:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= 1 << (value % 8)
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = bytes([value]) * (1 + value % 7)
        elif kind == "delete":
            del out[at:at + 1 + value % 16]
    return bytes(out)


SOURCES = {ext: encoded(fmt, photo(64, 48), **options)
           for ext, fmt, options in (("jpg", "JPEG", {"quality": 85}), ("png", "PNG", {}),
                                     ("webp", "WEBP", {"quality": 85}), ("tif", "TIFF", {}))}


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ext=st.sampled_from(sorted(SOURCES)),
       edits=st.lists(st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete"]), st.floats(0, 1),
                                st.integers(0, 255)), min_size=1, max_size=4))
def test_fuzzed_photos_extract_cleanly(ext, edits, tiny_zoo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / f"fuzzed.{ext}"
    path.write_bytes(_mutate(SOURCES[ext], edits))
    before = snapshot(folder)
    with deadline(30):
        result = runner.invoke(app, ["extract", "--device", "cpu", str(path)])
    assert_clean_run(result)
    assert result.exit_code in (1, EXIT_INPUT), result.output  # 0 would be a mark read from an unmarked photo
    if result.exit_code == EXIT_INPUT:
        (line,) = error_lines(result)
        assert line.startswith(f"error: cannot read {path}: ")
    assert snapshot(folder) == before


# --------------------------------------------------------------------------- models


def _register(monkeypatch, path: Path) -> None:
    """Make ``path`` the zoo's only model, with its own (matching) sha256: only the loader stands guard."""
    from wmark import zoo

    entry = zoo.ZooEntry(name="evil", version=1, file=path.name, sha256=zoo.sha256_of(path), bits=64, size=64,
                         summary="a test")
    monkeypatch.setenv("WMARK_MODELS_DIR", str(path.parent))
    monkeypatch.setattr(zoo, "MODELS", {"evil": entry})
    zoo.forget_loaded()


def _code_carrying(kind: str, marker: Path, path: Path) -> None:
    import torch

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    content = {"config": Payload(), "state_dict": {}}
    if kind == "pickle":
        path.write_bytes(pickle.dumps(content, protocol=2))
    elif kind == "torch-zip":
        torch.save(content, path)
    else:
        torch.save(content, path, _use_new_zipfile_serialization=False)


@pytest.mark.parametrize("kind", ["pickle", "torch-zip", "torch-legacy"])
def test_code_carrying_weights_are_refused(kind, tiny_zoo, kodak_file, tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "evil.pt"
    _code_carrying(kind, marker, path)
    # (test_code_carrying_pickle_really_carries_code shows that plain unpickling runs it)
    _register(monkeypatch, path)
    second = Path(shutil.copy(kodak_file, kodak_file.with_name("second.png")))
    for command in (["extract", str(kodak_file), str(second)], ["embed", str(kodak_file), str(second), "--msg", "hi"]):
        result = runner.invoke(app, [*command, "--device", "cpu"])
        assert_clean_run(result)
        assert result.exit_code == EXIT_MODEL, result.output
        (line,) = error_lines(result)  # one line, and the run stops: every input would fail alike
        assert line.startswith("error: cannot load model weights evil.pt: "), line
        assert "weights_only" not in line and "could run code" in line, line
        assert not marker.exists(), "unpickling ran code"
    assert sorted(os.listdir(kodak_file.parent)) == ["models", "photo.png", "second.png"]


def test_code_carrying_pickle_really_carries_code(tmp_path):
    """The test file above is a real threat: plain ``pickle.loads`` runs its command."""
    marker = tmp_path / "code-ran"
    _code_carrying("pickle", marker, tmp_path / "evil.pt")
    pickle.loads((tmp_path / "evil.pt").read_bytes())
    assert marker.exists()


def test_wrong_sha256_and_truncated_weights_are_refused(tiny_zoo, kodak_file, monkeypatch):
    from wmark import zoo

    path = zoo.weights_path(tiny_zoo)
    monkeypatch.setattr(zoo, "MODELS", {"tiny": zoo.ZooEntry(**{**tiny_zoo.__dict__, "sha256": "0" * 64})})
    zoo.forget_loaded()
    result = runner.invoke(app, ["extract", str(kodak_file), "--device", "cpu"])
    assert result.exit_code == EXIT_MODEL and "sha256" in result.stderr and len(error_lines(result)) == 1

    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for sha256, words in ((tiny_zoo.sha256, "sha256"), (zoo.sha256_of(path), "damaged")):
        monkeypatch.setattr(zoo, "MODELS", {"tiny": zoo.ZooEntry(**{**tiny_zoo.__dict__, "sha256": sha256})})
        zoo.forget_loaded()
        result = runner.invoke(app, ["embed", str(kodak_file), "--msg", "hi", "--device", "cpu"])
        assert_clean_run(result)
        assert result.exit_code == EXIT_MODEL and words in result.stderr, result.output
        assert len(error_lines(result)) == 1
    assert sorted(os.listdir(kodak_file.parent)) == ["photo.png"]


def test_torch_load_always_weights_only():
    """Every ``torch.load`` in wmark passes ``weights_only=True``; no pickle/eval of files.

    Read from the syntax tree: any other reference to ``torch.load`` (an alias, a
    ``from torch import load``) fails too.
    """
    checked = 0
    for path in sorted((ROOT / "wmark").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "weights_only=False" not in source, path
        tree = ast.parse(source)
        safe = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch"):
                assert "load" not in {alias.name for alias in node.names}, f"{path}:{node.lineno}"
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            assert name not in ("pickle.load", "pickle.loads", "pickle.Unpickler", "eval", "exec"), \
                f"{path}:{node.lineno}: {name}"
            if name.endswith("torch.load"):
                value = {keyword.arg: keyword.value for keyword in node.keywords}.get("weights_only")
                assert isinstance(value, ast.Constant) and value.value is True, f"{path}:{node.lineno}"
                safe.add(id(node.func))
                checked += 1
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and ast.unparse(node).endswith("torch.load"):
                assert id(node) in safe, f"{path}:{node.lineno}: torch.load used other than as a checked call"
    assert checked >= 1


# --------------------------------------------------------------------------- real processes


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """The tiny test model as a models folder (``zoo.json`` + weights) for a ``wmark`` process."""
    import torch

    from conftest import TINY_MODEL
    from wmark import zoo
    from wmark.models.network import ModelConfig, WatermarkModel

    torch.manual_seed(0)
    model = WatermarkModel(ModelConfig(**TINY_MODEL)).eval()
    folder = tmp_path_factory.mktemp("process-models")
    torch.save({"config": model.cfg.to_dict(), "state_dict": model.state_dict()}, folder / "tiny.pt")
    entry = {"name": "tiny", "version": 1, "file": "tiny.pt", "sha256": zoo.sha256_of(folder / "tiny.pt"),
             "bits": 64, "size": 64, "summary": "random weights, for tests", "metrics": {}}
    (folder / "zoo.json").write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    return folder


def wmark_command() -> list[str]:
    script = Path(sys.executable).parent / "wmark"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "wmark"]


def process_env(models_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("WMARK_DEBUG", "WMARK_MAX_PIXELS")}
    env.update(WMARK_MODELS_DIR=str(models_dir), OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE",
               PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def batch(tmp_path, kodak_path) -> tuple[list[Path], Path]:
    """20 copies of kodim01 at 512 px (slow enough to be interrupted) and an output folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    with Image.open(kodak_path) as image:
        big = image.convert("RGB").resize((512, 342), Image.Resampling.BICUBIC)
    big.save(folder / "p00.png")
    inputs = [folder / "p00.png"] + [Path(shutil.copy(folder / "p00.png", folder / f"p{i:02d}.png"))
                                     for i in range(1, 20)]
    return inputs, tmp_path / "out"


def _run_until(command: list[str], env: dict[str, str], out: Path, *, stop_after: int, sig: int | None):
    """Start ``command``; once ``out`` holds ``stop_after`` finished files, send ``sig``."""
    # A shell's background job inherits SIGINT ignored; a user's Ctrl-C reaches a foreground one.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    sent = False
    start = time.monotonic()
    while sig is not None and process.poll() is None and time.monotonic() - start < 120:
        done = [name for name in (os.listdir(out) if out.is_dir() else []) if not name.startswith(".")]
        if len(done) >= stop_after:
            process.send_signal(sig)
            sent = True
            break
        time.sleep(0.005)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout.decode(), stderr.decode(), sent


def _outputs(out: Path) -> dict[str, tuple[str, int]]:
    return {name: (hashlib.sha256((out / name).read_bytes()).hexdigest(), (out / name).stat().st_mtime_ns)
            for name in sorted(os.listdir(out)) if not name.startswith(".")}


def test_interrupted_batch_resumes(models_dir, batch):
    inputs, out = batch
    command = [*wmark_command(), "embed", *map(str, inputs), "--msg", "hi", "-o", str(out), "--json",
               "--device", "cpu"]
    env = process_env(models_dir)
    with Image.open(inputs[0]) as first:
        size = first.size
    finished: dict[str, tuple[str, int]] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        code, stdout, stderr, sent = _run_until(command, env, out, stop_after=len(finished) + 1, sig=sig)
        assert sent, "the run ended before the signal"
        assert code == EXIT_INTERRUPTED, (sig, code, stderr)
        assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "error: interrupted", stderr
        assert temporary_files(out) == []
        now = _outputs(out)
        assert len(finished) < len(now) < len(inputs), (sig, len(now))
        for name in now:
            assert_complete_image(out / name, size)
        assert {name: now[name] for name in finished} == finished, "a finished output was redone"
        for line in stdout.splitlines():
            assert json.loads(line)["path"]
        finished = now
    code, stdout, stderr, _ = _run_until(command, env, out, stop_after=0, sig=None)
    assert code == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == len(inputs)
    assert sum(bool(record.get("skipped")) for record in records) == len(finished)
    assert stderr.count("exists, skipped (--force replaces it)") == len(finished)
    final = _outputs(out)
    assert sorted(final) == sorted(path.name for path in inputs) and temporary_files(out) == []
    assert {name: final[name] for name in finished} == finished
    for name in final:
        assert_complete_image(out / name, size)


def test_two_embeds_into_one_folder(models_dir, batch):
    inputs, out = batch
    command = [*wmark_command(), "embed", *map(str, inputs[:12]), "--msg", "hi", "-o", str(out), "--json",
               "--device", "cpu"]
    env = process_env(models_dir)
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
    results = [process.communicate(timeout=180) for process in processes]
    with Image.open(inputs[0]) as first:
        size = first.size
    written: dict[str, int] = {}
    for process, (stdout, stderr) in zip(processes, results):
        assert process.returncode == 0, stderr.decode()
        lines = stdout.decode().splitlines()
        assert len(lines) == 12
        for line in lines:
            record = json.loads(line)  # a whole line, never two records interleaved
            if not record.get("skipped"):
                written[Path(record["output"]).name] = written.get(Path(record["output"]).name, 0) + 1
    assert sorted(os.listdir(out)) == sorted(path.name for path in inputs[:12])  # no temporary file
    assert written == {path.name: 1 for path in inputs[:12]}  # each output written once, never replaced
    for name in os.listdir(out):
        assert_complete_image(out / name, size)


def test_embed_skips_existing_output_unless_forced(tiny_zoo, kodak_file, tmp_path):
    output = kodak_file.with_name("photo.wm.png")
    output.write_bytes(b"an older file")
    result = runner.invoke(app, ["embed", str(kodak_file), "--msg", "hi", "--json", "--device", "cpu"])
    assert result.exit_code == 0 and "exists, skipped (--force replaces it)" in result.stderr
    assert json.loads(result.stdout) == {"path": str(kodak_file), "output": str(output), "skipped": True}
    assert output.read_bytes() == b"an older file"
    forced = runner.invoke(app, ["embed", str(kodak_file), "--msg", "hi", "--force", "--device", "cpu"])
    assert forced.exit_code == 0
    assert_complete_image(output)
    # the input itself is never an output, --force or not
    same = runner.invoke(app, ["embed", str(kodak_file), "--msg", "hi", "-o", str(kodak_file), "--force"])
    assert same.exit_code == 4 and "never overwrites its input" in same.stderr
    # attack has one output: an existing one is still an error
    attacked = runner.invoke(app, ["attack", str(kodak_file), "--jpeg", "50", "-o", str(output)])
    assert attacked.exit_code == 4 and "already exists" in attacked.stderr
    assert temporary_files(kodak_file.parent) == []


def test_held_signal_is_delivered_after_the_write(tmp_path, kodak_rgb):
    """A Ctrl-C during a write is held until the file is complete and renamed, then raised."""
    from wmark import imageio

    target = tmp_path / "out.png"
    original_save = Image.Image.save

    def save_and_interrupt(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal arrives while the file is being written
        return original_save(self, *args, **kwargs)

    Image.Image.save = save_and_interrupt
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # ignored in a shell's background job
    try:
        with pytest.raises(KeyboardInterrupt):
            imageio.write_image(target, np.ascontiguousarray(kodak_rgb))
    finally:
        Image.Image.save = original_save
        signal.signal(signal.SIGINT, previous)
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    assert_complete_image(target)


# --------------------------------------------------------------------------- limits


# Peak RSS of the process itself: VmHWM of /proc (Linux). getrusage's ru_maxrss would do
# elsewhere, but on Linux it keeps the high-water mark of the parent across fork + exec,
# so a child of a big pytest process would report pytest's own size.
_PEAK = """
import json, resource, sys
from wmark.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    status = exit.code
try:
    with open("/proc/self/status") as lines:
        peak = next(int(line.split()[1]) for line in lines if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(json.dumps({"status": status, "peak_kb": peak}) + "\\n")
"""


def _peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    done = subprocess.run([sys.executable, "-c", _PEAK, *args], env=env, capture_output=True, text=True, timeout=900)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["status"], report["peak_kb"] / 1024, done.stderr


@pytest.mark.slow
def test_50_megapixel_memory(models_dir, tmp_path):
    """Peak RSS of ``wmark extract`` and ``embed`` on a 50 MP photo (8660×5774 PNG gradient), tiny model.

    Measured on the 2-core development machine: extract 529 MB, embed 1170 MB, against
    284 MB for a 256 px photo (torch and the libraries) and 143 MB for the decoded photo.
    """
    width, height = 8660, 5774
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = x
    rgb[..., 1] = y
    rgb[..., 2] = (x + y) / 2
    path = tmp_path / "50mp.png"
    Image.fromarray(rgb).save(path, compress_level=1)
    del rgb
    env = process_env(models_dir)
    _, baseline, _ = _peak_rss_mb(["extract", str(ROOT / "tests" / "data" / "kodim01.png"), "--device", "cpu"], env)
    status, extract_peak, stderr = _peak_rss_mb(["extract", str(path), "--device", "cpu"], env)
    assert status in (0, 1), stderr
    output = tmp_path / "marked.png"
    status, embed_peak, stderr = _peak_rss_mb(["embed", str(path), "--msg", "hi", "-o", str(output), "--device", "cpu"],
                                              env)
    assert status == 0, stderr
    assert_complete_image(output, (width, height))
    decoded = width * height * 3 / 2**20
    print(f"\n50 MP: peak RSS extract {extract_peak:.0f} MB, embed {embed_peak:.0f} MB "
          f"(a 256 px photo: {baseline:.0f} MB; the decoded photo: {decoded:.0f} MB)")
    assert extract_peak - baseline < 3 * decoded, (extract_peak, baseline)  # measured: 1.7 ×
    assert embed_peak - baseline < 10 * decoded, (embed_peak, baseline)  # measured: 6.2 × (float residual)


def test_a_stuck_input_is_given_up_and_the_batch_goes_on(tmp_path, capsys):
    """--timeout: one input that never returns is reported (exit 3) and the others finish."""
    import threading

    from wmark.cli.runner import Outcome, run_per_input
    from wmark.errors import EXIT_INPUT

    release = threading.Event()
    paths = [tmp_path / name for name in ("a.png", "stuck.png", "c.png")]

    def work(path: Path) -> Outcome:
        if path.name == "stuck.png":
            release.wait(60)  # a decoder that hangs
        return Outcome({"done": path.name})

    started = time.monotonic()
    try:
        for jobs in (1, 2):
            status = run_per_input(paths, work, json_output=True, quiet=True, jobs=jobs, timeout=0.3)
            assert status == EXIT_INPUT
    finally:
        release.set()
    assert time.monotonic() - started < 10
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r.get("done") for r in records] == ["a.png", None, "c.png"] * 2
    assert records[1]["exit_code"] == EXIT_INPUT and "no result after 0.3 s" in records[1]["error"]
    assert captured.err.count("no result after 0.3 s (--timeout); skipped") == 2


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_ten_thousand_file_batch_streams(tmp_path, capfd, jobs):
    """Memory of a batch does not grow with its length: 10,000 inputs hold about what
    1,000 do (results are printed as they come; at most two per thread are in flight)."""
    import tracemalloc

    from wmark.cli.files import expand_inputs
    from wmark.cli.runner import Outcome, run_per_input

    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(10_000):
        (folder / f"{index:05d}.png").touch()

    def work(path: Path) -> Outcome:
        return Outcome({"output": os.fspath(path.with_suffix(".wm.png")), "psnr": 42.0, "bits": "01" * 50})

    def peak(count: int) -> int:
        paths = expand_inputs([folder])[:count]
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        assert run_per_input(paths, work, json_output=True, quiet=True, jobs=jobs, timeout=60) == 0
        result = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.stop()
        assert len(capfd.readouterr().out.splitlines()) == count  # captured in a file, not in memory
        return result

    small, large = peak(1_000), peak(10_000)
    assert large < small + 2_000_000, (small, large)  # 9,000 more inputs: no 200 bytes each
