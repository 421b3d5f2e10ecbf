"""The helpers every command reuses (wmark.cli.settings, printing, files, options, runner) and the one
error mapping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from wmark.cli import app, files, options, printing, runner, settings
from wmark.errors import InputError, ModelError, OutputError, UsageError


def test_run_per_input_reports_bad_inputs_and_goes_on(tmp_path, capsys):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"

    def work(path: Path):
        if path == bad:
            raise InputError(f"cannot read {path}: no such file")
        return runner.Outcome({"found": True}, text=f"{path.name} ok")

    status = runner.run_per_input([bad, good], work, json_output=True)
    out, err = capsys.readouterr()
    assert status == 3
    records = [json.loads(line) for line in out.splitlines()]
    assert records == [{"path": str(bad), "error": f"cannot read {bad}: no such file", "exit_code": 3},
                       {"path": str(good), "found": True}]
    assert err.strip() == f"error: cannot read {bad}: no such file"  # the path once

    status = runner.run_per_input([good], lambda p: runner.Outcome({}, text="hello", exit_code=1))
    assert status == 1 and capsys.readouterr().out == "hello\n"


def test_run_per_input_names_the_path_when_the_message_does_not(tmp_path, capsys):
    def work(path: Path):
        raise OutputError("disk full")

    assert runner.run_per_input([tmp_path / "a.png"], work) == 4
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'a.png'}: disk full"


def test_run_per_input_keeps_the_highest_status(tmp_path, capsys):
    def work(path: Path):
        if path.name == "model":
            raise ModelError("weights tampered")
        if path.name == "bug":
            raise RuntimeError("boom")
        return {"ok": True}

    paths = [tmp_path / name for name in ("bug", "fine", "model")]
    assert runner.run_per_input(paths, work) == 5
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("internal error (RuntimeError: boom); run with --debug for the traceback")
    assert len(err) == 2


def test_emit_json_is_one_flushed_line(capsys):
    printing.emit_json({"path": Path("a b.png"), "message": "é", "bits": "0101"})
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out) == {"path": "a b.png", "message": "é", "bits": "0101"}


def test_expand_inputs(tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "sub" / "deep.jpg")
    flat = files.expand_inputs([str(tmp_path)])
    deep = files.expand_inputs([tmp_path], recursive=True)
    assert flat == [photo]
    assert deep == [photo, tmp_path / "sub" / "deep.jpg"]
    assert files.expand_inputs([str(tmp_path / "*.png"), str(photo)]) == [photo]  # each once
    missing = tmp_path / "missing.png"
    assert files.expand_inputs([str(missing)]) == [missing]  # kept: reported per input
    with pytest.raises(UsageError):
        files.expand_inputs([])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        files.expand_inputs([tmp_path / "empty"])


def test_output_path_for(tmp_path):
    source = tmp_path / "a.jpg"
    assert files.output_path_for(source, None) == tmp_path / "a.wm.jpg"
    assert files.output_path_for(source, tmp_path / "x.png") == tmp_path / "x.png"
    assert files.output_path_for(source, tmp_path / "out", many=True) == tmp_path / "out" / "a.jpg"
    assert (tmp_path / "out").is_dir()
    assert files.output_path_for(source, tmp_path / "out") == tmp_path / "out" / "a.jpg"  # existing folder
    assert files.output_path_for(source, tmp_path) == tmp_path / "a.wm.jpg"  # never the input's name
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        files.output_path_for(source, tmp_path / "file", many=True)


def test_check_output(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(b"x")
    files.check_output(source, tmp_path / "new.png")
    with pytest.raises(OutputError, match="never overwrites"):
        files.check_output(source, source, force=True)
    (tmp_path / "old.png").write_bytes(b"x")
    with pytest.raises(OutputError, match="--force"):
        files.check_output(source, tmp_path / "old.png")
    files.check_output(source, tmp_path / "old.png", force=True)
    with pytest.raises(OutputError, match="does not exist"):
        files.check_output(source, tmp_path / "no" / "out.png")
    with pytest.raises(OutputError, match="folder"):
        files.check_output(source, tmp_path)
    with pytest.raises(UsageError):
        files.check_output(source, tmp_path / "out.xyz")


def test_message_spec():
    assert options.message_spec("hi", None, None) == options.MessageSpec("text", "hi")
    assert options.message_spec("hi", None, None).data == b"hi"
    assert options.message_spec(None, "0xDE AD", None) == options.MessageSpec("hex", "dead")
    assert options.message_spec(None, "dead", None).data == b"\xde\xad"
    assert options.message_spec(None, None, "0101 1") == options.MessageSpec("bits", "01011")
    assert options.message_spec(None, None, "01").data is None
    assert options.message_spec(None, None, None, required=False) is None
    for args in [(None, None, None), ("a", "00", None), ("", None, None), (None, "abc", None),
                 (None, "zz", None), (None, None, "012"), (None, None, "")]:
        with pytest.raises(UsageError):
            options.message_spec(*args)


def test_progress_bar_is_silent_off_a_terminal(capsys):
    with printing.progress_bar(3, "work") as advance:
        advance("x")
    assert capsys.readouterr().err == ""


def test_settings_outside_a_command_are_the_defaults(monkeypatch):
    monkeypatch.delenv("WMARK_DEBUG", raising=False)
    assert settings.settings() == settings.Settings(debug=False, quiet=False, max_pixels=None)


# --------------------------------------------------------------------------- the root group


def _probe_app(error: BaseException) -> typer.Typer:
    """The real root group with one extra command that raises ``error``."""
    from wmark.cli import WmarkGroup

    probe = typer.Typer(cls=WmarkGroup, add_completion=False, pretty_exceptions_enable=False)

    @probe.callback()
    def root(ctx: typer.Context, debug: bool = typer.Option(False, "--debug")) -> None:
        ctx.obj = settings.Settings(debug=debug)

    @probe.command()
    def boom() -> None:
        raise error

    return probe


@pytest.mark.parametrize("error, code", [
    (UsageError("bad"), 2), (InputError("unreadable"), 3), (OutputError("full"), 4), (ModelError("gone"), 5),
    (KeyboardInterrupt(), 130), (RuntimeError("bug"), 1), (OSError(28, "No space left on device"), 1),
])
def test_every_error_maps_to_its_exit_code_in_one_line(error, code):
    result = CliRunner().invoke(_probe_app(error), ["boom"])
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output


def test_debug_adds_the_traceback():
    result = CliRunner().invoke(_probe_app(RuntimeError("bug")), ["--debug", "boom"])
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_root_help_version_and_unknown_command():
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "attack" in result.stdout and "completions" in result.stdout
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("wmark ")
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(app, [])
    assert result.exit_code == 2 and "attack" in result.output
