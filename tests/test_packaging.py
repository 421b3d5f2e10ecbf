"""Packaging: light imports, the console script, a wheel that carries the weights."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wmark

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "cv2", "numpy", "PIL", "kornia", "scipy", "ray")


def _imported_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return done.stdout.split()


def test_import_wmark_is_light():
    assert _imported_after("import wmark") == []


def test_import_cli_does_not_import_torch_or_opencv():
    heavy = _imported_after("import wmark.cli")
    assert "torch" not in heavy and "cv2" not in heavy and "kornia" not in heavy and "ray" not in heavy


def test_help_of_the_ray_commands_does_not_import_ray():
    """--ray is an option of embed/extract/verify: their help, and the --ray glue, load no Ray."""
    for command in ("embed", "extract", "verify"):
        statement = ("import wmark.cli.cluster; from typer.testing import CliRunner; from wmark.cli import app; "
                     f"assert '--ray' in CliRunner().invoke(app, ['{command}', '--help']).output")
        assert "ray" not in _imported_after(statement)


def test_lazy_attributes():
    assert "embed" in dir(wmark) and "attack" in dir(wmark)
    with pytest.raises(AttributeError):
        wmark.no_such_thing  # noqa: B018


def test_version_is_consistent():
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("wmark")
    except PackageNotFoundError:
        pytest.skip("wmark is not installed (pip install -e .)")
    assert installed == wmark.__version__




def test_console_script_help(console_script):
    done = subprocess.run([console_script, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "attack" in done.stdout and "completions" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_console_script_version(console_script):
    done = subprocess.run([console_script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"wmark {wmark.__version__}"


def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "wmark", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0 and "attack" in done.stdout


def test_unknown_command_exits_2_without_traceback():
    done = subprocess.run([sys.executable, "-m", "wmark", "no-such-command"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr


def test_wheel_ships_models_inside_the_package(tmp_path):
    """models/*.pt|json|MODEL_CARD.md land in wmark/models_data/ (where wmark.zoo looks)."""
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "wmark", source / "wmark", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    models = source / "models"
    models.mkdir()
    real = sorted(p.name for p in (ROOT / "models").glob("*") if p.suffix in (".pt", ".json")) \
        if (ROOT / "models").is_dir() else []
    for name in real + (["MODEL_CARD.md"] if (ROOT / "models" / "MODEL_CARD.md").exists() else []):
        (models / name).symlink_to(ROOT / "models" / name)
    # Stand-ins, so that the mapping is tested even before real weights exist.
    for name in ("zz-test-v1-00000000.pt", "zz-test.json"):
        (models / name).write_bytes(b"stand-in")
    if not (models / "MODEL_CARD.md").exists():
        (models / "MODEL_CARD.md").write_text("# stand-in\n")
    (models / "notes.txt").write_text("not shipped\n")

    dist = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-input",
         "--disable-pip-version-check", "-w", str(dist), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0 and "bdist_wheel" in done.stderr + done.stdout:
        pytest.skip("setuptools here cannot build wheels without `wheel` (needs setuptools>=70.1)")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [wheel] = dist.glob("wmark-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    assert "wmark/__init__.py" in names and "wmark/cli/__init__.py" in names and "wmark/cli/runner.py" in names
    for name in [*real, "zz-test-v1-00000000.pt", "zz-test.json", "MODEL_CARD.md"]:
        assert f"wmark/models_data/{name}" in names, name
    assert "wmark/models_data/notes.txt" not in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "wmark = wmark.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
