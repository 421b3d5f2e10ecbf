"""Ctrl-C and SIGTERM end a real ``wmark`` process with exit 130, in every phase (issue 23).

Each run is a real process (``wmark.cli.main``, the console script's entry point, with
its signal handling) on the tiny test model. A few runs go through a probe: a line of
Python that wraps one function of wmark before ``main`` runs, only to write a marker
file when a phase is reached (and to make it last long enough to be interrupted there),
so that the signal lands in that phase every time: ISMark's optimisation, the write of
an output, a decoder pass of extract or verify, a bench photo. Every run must end with
exit 130, ``error: interrupted`` as the last line of stderr, no ``terminate called``
(a native thread torn down at exit: SIGABRT) and no traceback, only whole outputs and no
temporary file; a plain re-run then finishes the batch. And a photo that ``--timeout``
gave up on, still busy in torch when the batch ends, must not abort the exit either.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from test_reliability import (assert_complete_image, models_dir, process_env, temporary_files,  # noqa: F401
                              wmark_command)
from wmark.errors import EXIT_INTERRUPTED

# The probes: wrap one function of wmark, then run the command line as the console script does.
_MAIN = "import sys; from wmark.cli import main; sys.argv[0] = 'wmark'; main(sys.argv[1:])"
_ISMARK = """
import time, wmark.ismark as m
marker, count = {marker!r}, [0]
original = m.optimise
def optimise(*args, options=None, **kwargs):
    count[0] += 1
    number = count[0]
    inner = options.progress
    def progress(iteration, *values):
        if number == 2:
            if iteration == 2:
                open(marker, "w").close()  # photo 2 is being optimised
            time.sleep(0.02)
        inner(iteration, *values)
    return original(*args, options=m.IsmarkOptions(**{{**options.__dict__, "progress": progress}}), **kwargs)
m.optimise = optimise
"""
_WRITE = """
import contextlib, time, wmark.imageio as io
marker, count = {marker!r}, [0]
original = io.atomic_file
@contextlib.contextmanager
def atomic_file(path, force=False):
    count[0] += 1
    number = count[0]
    with original(path, force) as stream:
        yield stream
        if number == 1:
            with open(marker, "w") as note:  # the first output is being written
                note.write(str(path))
            time.sleep(1.0)
io.atomic_file = atomic_file
"""
_DECODE = """
import time, wmark.api as api
marker, count = {marker!r}, [0]
original = api.decode_probabilities
def decode_probabilities(*args, **kwargs):
    count[0] += 1
    if count[0] == 3:
        open(marker, "w").close()  # a later photo is being read
        time.sleep(0.5)
    return original(*args, **kwargs)
api.decode_probabilities = decode_probabilities
"""
_BENCH = """
import wmark.bench_report as report
marker = {marker!r}
original = report.Journal.add
def add(self, entry):
    original(self, entry)
    open(marker, "w").close()  # a photo is in the journal; the next one is being measured
report.Journal.add = add
"""

_STUCK = """
import time, torch, wmark.api as api
original, count = api.decode_probabilities, [0]
def decode_probabilities(*args, **kwargs):
    count[0] += 1
    if count[0] == 1:  # the first photo never ends, busy in torch's native code
        x, end = torch.randn(300, 300), time.monotonic() + 60
        while time.monotonic() < end:
            x = x @ x
            x = x / x.norm()
    return original(*args, **kwargs)
api.decode_probabilities = decode_probabilities
"""


@pytest.fixture
def photos(tmp_path: Path, kodak_path: Path) -> list[Path]:
    """Four copies of kodim01 at 512×342 (PNG) in a folder of their own."""
    folder = tmp_path / "in"
    folder.mkdir()
    with Image.open(kodak_path) as image:
        image.convert("RGB").resize((512, 342), Image.Resampling.BICUBIC).save(folder / "p0.png")
    return [folder / "p0.png", *(Path(shutil.copy(folder / "p0.png", folder / f"p{i}.png")) for i in (1, 2, 3))]


def _run(args: list[str], env: dict[str, str], probe: str | None = None, marker: Path | None = None,
         sig: int = signal.SIGINT, twice: bool = False) -> tuple[int, str, str, float]:
    """Run ``wmark ARGS`` (through ``probe`` when given); once ``marker`` exists, send ``sig``
    (and a second one 0.2 s later with ``twice``). (exit status, stdout, stderr, seconds
    from the signal to the exit)."""
    command = [sys.executable, "-c", probe.format(marker=str(marker)) + _MAIN, *args] if probe else \
        [*wmark_command(), *args]
    # A shell's background job inherits SIGINT ignored; a user's Ctrl-C reaches a foreground one.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    sent = None
    deadline = time.monotonic() + 120
    while marker is not None and process.poll() is None and time.monotonic() < deadline:
        if marker.exists():
            process.send_signal(sig)
            sent = time.monotonic()
            if twice:
                time.sleep(0.2)
                process.send_signal(sig)
            break
        time.sleep(0.005)
    stdout, stderr = process.communicate(timeout=120)
    if marker is not None:
        assert sent is not None, f"the run ended before the phase was reached: {stderr}"
    return process.returncode, stdout, stderr, (time.monotonic() - sent) if sent else 0.0


def _assert_interrupted(code: int, stderr: str) -> None:
    assert code == EXIT_INTERRUPTED, (code, stderr)
    assert "terminate called" not in stderr and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted", stderr


def _outputs(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if not name.startswith(".")) if folder.is_dir() else []


def test_ctrl_c_during_ismark_and_during_a_write_exits_130_and_a_rerun_finishes(models_dir, photos, tmp_path):
    out = tmp_path / "out"
    args = ["embed", *map(str, photos), "--msg", "hi", "-o", str(out), "--method", "ismark", "--device", "cpu"]
    env = process_env(models_dir)

    # 1. While photo 2 is being optimised: it stops between two iterations, nothing of it is written.
    code, _, stderr, stopped = _run(args, env, _ISMARK, tmp_path / "optimising")
    _assert_interrupted(code, stderr)
    assert _outputs(out) == ["p0.png"] and temporary_files(out) == []
    assert stopped < 10, f"{stopped:.1f} s from Ctrl-C to the exit: the optimisation did not stop"
    assert_complete_image(out / "p0.png", (512, 342))

    # 2. While the next output is being written (p0 is skipped: it exists): that file is completed.
    code, _, stderr, _ = _run(args, env, _WRITE, tmp_path / "writing")
    _assert_interrupted(code, stderr)
    assert (tmp_path / "writing").read_text() == str(out / "p1.png")
    assert _outputs(out) == ["p0.png", "p1.png"] and temporary_files(out) == []
    for name in _outputs(out):
        assert_complete_image(out / name, (512, 342))

    # 3. A plain re-run finishes the batch, skipping what is done.
    code, stdout, stderr, _ = _run([*args, "--json"], env)
    assert code == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [bool(record.get("skipped")) for record in records] == [True, True, False, False]
    assert _outputs(out) == [path.name for path in photos] and temporary_files(out) == []
    for name in _outputs(out):
        assert_complete_image(out / name, (512, 342))


@pytest.mark.parametrize("jobs, sig, twice", [(1, signal.SIGTERM, False), (2, signal.SIGINT, False),
                                             (1, signal.SIGINT, True)])
def test_sigterm_threads_and_a_second_ctrl_c_during_a_write(models_dir, photos, tmp_path, jobs, sig, twice):
    """SIGTERM as Ctrl-C; ``--jobs 2``; and a second Ctrl-C, which stops waiting for the
    photo in flight but not for the file being written (the process then ends at once)."""
    out = tmp_path / "out"
    args = ["embed", *map(str, photos), "--msg", "hi", "-o", str(out), "--method", "encoder", "--device", "cpu",
            "--jobs", str(jobs)]
    code, _, stderr, _ = _run(args, process_env(models_dir), _WRITE, tmp_path / "writing", sig=sig, twice=twice)
    _assert_interrupted(code, stderr)
    written = Path((tmp_path / "writing").read_text())
    assert written.name in _outputs(out) and temporary_files(out) == []  # the file being written was finished
    assert len(_outputs(out)) <= jobs  # the other photos in flight stopped before their write
    for name in _outputs(out):
        assert_complete_image(out / name, (512, 342))


@pytest.mark.parametrize("command", ["extract", "verify"])
def test_ctrl_c_during_extract_and_verify(models_dir, photos, tmp_path, command):
    args = [command, *map(str, photos), "--device", "cpu", *(["--msg", "hi"] if command == "verify" else [])]
    code, stdout, stderr, _ = _run(args, process_env(models_dir), _DECODE, tmp_path / "reading")
    _assert_interrupted(code, stderr)
    assert len(stdout.splitlines()) < len(photos)  # it stopped before the end


def test_a_photo_given_up_by_timeout_does_not_abort_the_exit(models_dir, photos, tmp_path):
    """The thread of a photo given up by --timeout still runs when the batch is over; the
    process ends with the batch's status (3), not SIGABRT, and does not wait for it."""
    command = [sys.executable, "-c", _STUCK + _MAIN, "extract", *map(str, photos[:2]), "--timeout", "2",
               "--device", "cpu"]
    started = time.monotonic()
    done = subprocess.run(command, env=process_env(models_dir), capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "terminate called" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "no result after 2 s (--timeout); skipped" in done.stderr
    assert len(done.stdout.splitlines()) == 1 and time.monotonic() - started < 45


def test_ctrl_c_during_bench_keeps_its_journal_resumable(models_dir, photos, tmp_path):
    out = tmp_path / "report"
    args = ["bench", str(photos[0].parent), "--attacks", "none,jpeg50", "--size", "64", "--messages", "bits",
            "--out", str(out), "--device", "cpu"]
    env = process_env(models_dir)
    code, _, stderr, _ = _run(args, env, _BENCH, tmp_path / "measured")
    _assert_interrupted(code, stderr)
    assert not (out / "report.json").exists() and temporary_files(out) == []
    journal = (out / "images.jsonl").read_text().splitlines()
    assert 2 <= len(journal) < 1 + len(photos)  # the header and at least one photo, not all
    for line in journal:
        json.loads(line)
    code, _, stderr, _ = _run(args, env)
    assert code == 0, stderr
    assert f"{len(journal) - 1} photo(s) already measured" in stderr
    assert json.loads((out / "report.json").read_text())["settings"]["images"] == len(photos)


def test_ctrl_c_waits_for_the_input_in_flight_to_stop(tmp_path, capsys):
    """In-process: Ctrl-C while the runner waits on a --timeout thread marks the run as
    stopping; the input stops at its next safe point, and only then does the run end.
    (Python 3.11's Thread.join, interrupted, would have let the thread run on.)"""
    import threading

    from wmark.cli.runner import Outcome, busy_threads, raise_if_stopping, run_per_input

    steps: list[int] = []

    def work(path: Path) -> Outcome:
        for step in range(500):  # 5 s unless stopped
            raise_if_stopping()
            steps.append(step)
            time.sleep(0.01)
        return Outcome({})

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # ignored in a shell's background job
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_per_input([tmp_path / "a.png", tmp_path / "b.png"], work, quiet=True, timeout=60)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert busy_threads() == []  # the input's thread has ended: nothing left to tear down at exit
    assert 10 < len(steps) < 200 and steps == list(range(len(steps)))  # one input, stopped early
    assert capsys.readouterr().out == ""


@pytest.mark.slow  # a local Ray instance: about 15 s
def test_sigterm_during_a_ray_run(models_dir, photos, tmp_path):
    """``--ray local``: ray.init puts a SIGTERM handler of its own (exit 15 and a stack dump
    on stderr); the command line's is put back, so SIGTERM ends the run as Ctrl-C does."""
    pytest.importorskip("ray")
    many = [*photos, *(Path(shutil.copy(photos[0], photos[0].with_name(f"q{i}.png"))) for i in range(8))]
    out = tmp_path / "out"
    args = ["embed", *map(str, many), "--msg", "hi", "-o", str(out), "--method", "ismark", "--device", "cpu",
            "--ray", "local", "--jobs", "1"]
    command = [*wmark_command(), *args]
    process = subprocess.Popen(command, env=process_env(models_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while process.poll() is None and not _outputs(out) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before the signal"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    _assert_interrupted(process.returncode, stderr)
    assert "SIGTERM received" not in stderr
    assert 1 <= len(_outputs(out)) < len(many) and temporary_files(out) == []
    for name in _outputs(out):
        assert_complete_image(out / name, (512, 342))
