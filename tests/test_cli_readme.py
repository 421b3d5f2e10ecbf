"""The README's examples, and those of the CLI reference, run as written (on real photos,
in a scratch folder)."""

from __future__ import annotations

import importlib.util
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
CLI_REFERENCE = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
README_MAX_LINES = 250


def section(title: str, text: str = README, name: str = "README.md") -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"{name} has no section {title!r}"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def shell_lines(text: str) -> list[str]:
    return [line for block in blocks(text, "sh") for line in block.splitlines() if line.strip()]


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
    """A folder holding what the examples name: tests/data/, photo.jpg and photos/."""
    (tmp_path / "tests" / "data").mkdir(parents=True)
    shutil.copyfile(kodak_path, tmp_path / "tests" / "data" / kodak_path.name)
    (tmp_path / "photos").mkdir()
    with Image.open(kodak_path) as image:
        image.convert("RGB").save(tmp_path / "photo.jpg", quality=92)
        image.convert("RGB").save(tmp_path / "photos" / "kodim01.jpg", quality=92)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_is_short():
    lines = README.count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move the long parts to docs/"


def test_the_one_command_runs(scratch, kodak_paths):
    [block] = blocks(section("Set up and run, one command"), "sh")
    setup, *commands = (part.strip() for part in block.strip().split("&&"))
    assert setup == "bash scripts/setup.sh"  # checked for real by .ci/run, which runs it
    shutil.copyfile(kodak_paths[2], scratch / "tests" / "data" / kodak_paths[2].name)
    for command in commands:
        run_line(command, scratch)
    assert (scratch / "marked.png").is_file()


def test_quick_start_lines_run(scratch):
    lines = shell_lines(section("Quick start"))
    commands = {shlex.split(line)[1] for line in lines}
    assert {"embed", "extract", "verify", "attack", "bench", "models"} <= commands, commands
    for line in lines:
        run_line(line, scratch)
    made = ["photo.wm.jpg", "attacked.jpg", "report/report.md", "report/report.json", "owner.key", "wmark.bash"]
    if importlib.util.find_spec("matplotlib") is not None:
        made.append("report/robustness.png")
    for name in made:
        assert (scratch / name).stat().st_size > 0, name


def test_quick_start_python_runs(scratch):
    [code] = blocks(section("Quick start"), "python")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["found"].found and namespace["found"].text == "owner"
    assert namespace["decision"].match
    attacked = namespace["attacked"]
    assert isinstance(attacked, np.ndarray) and attacked.dtype == np.uint8
    assert attacked.shape == np.asarray(namespace["marked"].image).shape


def test_cli_reference_attack_examples_run(scratch):
    lines = shell_lines(section("attack", CLI_REFERENCE, "docs/cli.md"))
    assert lines
    for line in lines:
        run_line(line, scratch)
    for name in ("attacked.jpg", "attacked.png", "small.webp"):
        assert (scratch / name).stat().st_size > 0, name


def test_cli_reference_attack_python_runs(kodak_rgb):
    [code] = blocks(section("attack", CLI_REFERENCE, "docs/cli.md"), "python")
    namespace = {"rgb": kodak_rgb}
    exec(compile(code, "docs/cli.md", "exec"), namespace)
    assert isinstance(namespace["attacked"], np.ndarray) and namespace["attacked"].shape == kodak_rgb.shape


def test_library_page_python_runs(scratch):
    text = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    [code, *_] = blocks(text, "python")
    namespace: dict = {}
    exec(compile(code, "docs/library.md", "exec"), namespace)
    assert namespace["found"].text == "owner" and namespace["decision"].match


def test_readme_test_command_is_what_ci_runs():
    [block] = blocks(section("Tests"), "sh")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert block.strip() in ci.splitlines()


EXIT_ROW = re.compile(r"^\| (\d+) \|", re.M)


def test_exit_code_table_matches_wmark_errors():
    from wmark import errors

    table = section("Exit codes", CLI_REFERENCE, "docs/cli.md")
    codes = {int(code) for code in EXIT_ROW.findall(table)}
    assert codes == {value for name, value in vars(errors).items() if name.startswith("EXIT_")}


def test_exit_codes_have_one_home():
    """docs/cli.md holds the table; every other page links to it."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    holders = [page.name for page in pages
               if re.search(r"^\| code \| meaning \|$", page.read_text(encoding="utf-8"), re.M)]
    assert holders == ["cli.md"], holders
