"""The README's examples run as written (on real photos, in a scratch folder)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from wmark.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def run_line(line: str, folder: Path) -> None:
    """Run one `wmark ...` shell line through CliRunner (a `> FILE` redirect is honoured)."""
    words = shlex.split(line, comments=True)
    assert words[0].endswith("wmark"), line
    words, target = (words[:-2], words[-1]) if len(words) > 2 and words[-2] == ">" else (words, None)
    result = CliRunner().invoke(app, words[1:])
    assert result.exit_code == 0, (line, result.output)
    assert "Traceback" not in result.output
    if target is not None:
        (folder / target).write_text(result.stdout, encoding="utf-8")


@pytest.fixture
def scratch(tmp_path, monkeypatch, kodak_path) -> Path:
    (tmp_path / "tests" / "data").mkdir(parents=True)
    shutil.copyfile(kodak_path, tmp_path / "tests" / "data" / kodak_path.name)
    with Image.open(kodak_path) as image:
        image.convert("RGB").save(tmp_path / "photo.jpg", quality=92)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_one_command_runs(scratch, kodak_paths):
    [block] = blocks(section("Set up and run, one command"), "sh")
    setup, *commands = (part.strip() for part in block.strip().split("&&"))
    assert setup == "bash scripts/setup.sh"  # checked for real by .ci/run, which runs it
    shutil.copyfile(kodak_paths[2], scratch / "tests" / "data" / kodak_paths[2].name)
    for command in commands:
        run_line(command, scratch)
    assert (scratch / "marked.png").is_file()


def test_quick_start_lines_run(scratch):
    lines = [line for block in blocks(section("Quick start"), "sh") for line in block.splitlines() if line.strip()]
    assert lines
    for line in lines:
        run_line(line, scratch)
    for name in ("attacked.jpg", "attacked.png", "small.webp", "wmark.bash"):
        assert (scratch / name).stat().st_size > 0, name


def test_quick_start_python_runs(kodak_rgb):
    [code] = blocks(section("Quick start"), "python")
    namespace = {"rgb": kodak_rgb}
    exec(compile(code, "README.md", "exec"), namespace)
    assert isinstance(namespace["attacked"], np.ndarray) and namespace["attacked"].shape == kodak_rgb.shape


def test_readme_test_command_is_what_ci_runs():
    [block] = blocks(section("Tests"), "sh")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert block.strip() in ci.splitlines()


def test_exit_code_table_matches_wmark_errors():
    from wmark import errors

    table = section("Exit codes")
    codes = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert codes == {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
