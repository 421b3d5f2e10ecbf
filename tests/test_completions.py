"""Shell completions and the other generated docs are current, and completion works."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wmark.cli import app
from wmark.cli.completions import COMPLETION_FILES, SHELLS, completion_script

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_completion_is_current(shell):
    committed = ROOT / "completions" / COMPLETION_FILES[shell]
    assert committed.is_file(), f"missing {committed}: run python -m wmark completions --write completions/"
    assert committed.read_text(encoding="utf-8") == completion_script(shell), (
        f"{committed} is stale: run python -m wmark completions --write completions/")


def test_generated_docs_are_current():
    stale = _gen_docs().stale_files()
    assert not stale, f"stale: {[str(p.relative_to(ROOT)) for p in stale]}: run python scripts/gen_docs.py"


def test_cli_reference_lists_every_attack_option():
    from wmark.attacks import PRESETS, REGISTRY

    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in REGISTRY:
        assert f"`--{name}`" in reference
    for name in PRESETS:
        assert f"`{name}`" in reference


@pytest.mark.parametrize("shell", SHELLS)
def test_completions_command_prints_script(shell):
    result = runner.invoke(app, ["completions", shell])
    assert result.exit_code == 0, result.output
    assert result.stdout == completion_script(shell)
    assert "_WMARK_COMPLETE" in result.stdout


def test_completions_write(tmp_path):
    result = runner.invoke(app, ["completions", "--write", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for shell in SHELLS:
        assert (tmp_path / "out" / COMPLETION_FILES[shell]).read_text() == completion_script(shell)
    assert result.stdout == ""


def test_completions_usage_errors(tmp_path):
    assert runner.invoke(app, ["completions", "tcsh"]).exit_code == 2
    assert runner.invoke(app, ["completions"]).exit_code == 2
    assert runner.invoke(app, ["completions", "bash", "--write", str(tmp_path)]).exit_code == 2


def test_completions_write_to_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["completions", "--write", str(blocker / "sub")])
    assert result.exit_code == 4
    assert "Traceback" not in result.output


def test_bash_script_is_valid_bash():
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    subprocess.run(["bash", "-n", str(ROOT / "completions" / "wmark.bash")], check=True)


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_scripts_parse(shell):
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"no {shell} here")
    flag = "-n" if shell == "zsh" else "--no-execute"
    subprocess.run([exe, flag, str(ROOT / "completions" / COMPLETION_FILES[shell])], check=True)


def _complete(env_extra: dict[str, str]) -> list[str]:
    env = {**os.environ, **env_extra}
    done = subprocess.run([sys.executable, "-m", "wmark"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_and_attack_options():
    commands = _complete({"_WMARK_COMPLETE": "complete_bash", "COMP_WORDS": "wmark at", "COMP_CWORD": "1"})
    assert commands == ["attack"]
    options = _complete({"_WMARK_COMPLETE": "complete_bash", "COMP_WORDS": "wmark attack --jp",
                         "COMP_CWORD": "2"})
    assert "--jpeg" in options


def test_bash_completes_preset_names():
    from wmark.attacks import PRESETS

    names = _complete({"_WMARK_COMPLETE": "complete_bash", "COMP_WORDS": "wmark attack x --preset ",
                       "COMP_CWORD": "4"})
    assert set(names) == set(PRESETS)


def test_zsh_and_fish_protocols_answer():
    zsh = _complete({"_WMARK_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "wmark attack --jp"})
    assert any("--jpeg" in word for word in zsh)
    fish = _complete({"_WMARK_COMPLETE": "complete_fish", "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                      "_TYPER_COMPLETE_ARGS": "wmark comp"})
    assert any(word.startswith("completions") for word in fish)
