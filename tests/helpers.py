"""What the CLI tests share: a command run in-process, and its JSON lines."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from wmark.cli import app

runner = CliRunner()


def invoke(*args: object):
    """``wmark ARGS`` through CliRunner; never a traceback."""
    result = runner.invoke(app, [str(arg) for arg in args])
    assert "Traceback" not in result.output, result.output
    return result


def records(result) -> list[dict]:
    """The JSON lines a command printed on stdout."""
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
