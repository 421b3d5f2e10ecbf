"""Regenerate what is generated from the CLI and the attack registry.

- ``completions/``: bash, zsh and fish scripts (``wmark completions SHELL``);
- the blocks of ``docs/cli.md`` (the CLI reference) between ``<!-- generated:NAME -->`` and
  ``<!-- /generated:NAME -->``: ``attacks`` (one row per registry entry) and ``presets``
  (the reference columns).

    python scripts/gen_docs.py           # rewrite the files
    python scripts/gen_docs.py --check   # exit 1 when a file is stale (what the tests check)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_REFERENCE = ROOT / "docs" / "cli.md"
COMPLETIONS = ROOT / "completions"


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def attacks_table() -> str:
    """Markdown table of the attack registry: the options of ``wmark attack``."""
    from wmark.attacks import REGISTRY

    rows = ["| option | value | range | what it does |", "| --- | --- | --- | --- |"]
    for entry in REGISTRY.values():
        span = f"{_number(entry.low)} … {_number(entry.high)}"
        if entry.type is str:
            span += " characters"
        help_text = " ".join(entry.help.split()).replace("|", "\\|")
        rows.append(f"| `--{entry.name}` | {entry.param} | {span} | {help_text} |")
    return "\n".join(rows)


def presets_table() -> str:
    """Markdown table of the presets: the reference columns of ``wmark bench``."""
    from wmark.attacks import PRESETS

    rows = ["| preset | the same as |", "| --- | --- |"]
    for name, chain in PRESETS.items():
        options = " ".join(f"--{step} {_number(value)}" for step, value in chain)
        rows.append(f"| `{name}` | {f'`{options}`' if options else 'no attack (a copy)'} |")
    return "\n".join(rows)


BLOCKS: dict[str, Callable[[], str]] = {"attacks": attacks_table, "presets": presets_table}


def render_reference(text: str) -> str:
    """``text`` with every generated block replaced by its fresh content."""
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"docs/cli.md has no <!-- generated:{name} --> block")
        content = make()
        text = pattern.sub(lambda match: f"{match.group(1)}{content}\n{match.group(2)}", text)
    return text


def expected_files() -> dict[Path, str]:
    """Every generated file and its fresh content."""
    from wmark.cli.completions import COMPLETION_FILES, SHELLS, completion_script

    files = {COMPLETIONS / COMPLETION_FILES[shell]: completion_script(shell) for shell in SHELLS}
    files[CLI_REFERENCE] = render_reference(CLI_REFERENCE.read_text(encoding="utf-8"))
    return files


def stale_files() -> list[Path]:
    """Generated files whose content differs from a fresh generation."""
    return [path for path, content in expected_files().items()
            if not path.is_file() or path.read_text(encoding="utf-8") != content]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run python scripts/gen_docs.py)", file=sys.stderr)
        return 1 if stale else 0
    for path, content in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
