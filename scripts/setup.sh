#!/usr/bin/env bash
# One-command setup: a virtual environment with wmark installed for development.
#
#   bash scripts/setup.sh [VENV_DIR]      (default: .venv)
#
# PyTorch first: with no NVIDIA GPU, the CPU build torch==2.13.0 (on these machines pip
# finds it on local disk); a bare `torch` would pull a CUDA build of several GB. With a
# GPU, pip picks its ordinary CUDA build. TORCH_SPEC (default: torch==2.13.0 without a
# GPU, torch>=2.2 with one) and TORCH_PIP_ARGS (e.g. --index-url URL) override the ask.
# Then wmark itself, editable, with the test tools, the c2pa and ray extras (their tests
# run in CI) and matplotlib (the plot extra: `wmark bench --out` draws robustness.png).
# Safe to run again (idempotent).
set -euo pipefail

cd "$(dirname "$0")/.."
venv="${1:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)

if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
        spec="${TORCH_SPEC:-torch>=2.2}"
    else
        spec="${TORCH_SPEC:-torch==2.13.0}"
    fi
    # shellcheck disable=SC2086  # TORCH_PIP_ARGS is a list of words on purpose
    "${pip[@]}" install ${TORCH_PIP_ARGS:-} "$spec"
fi
"${pip[@]}" install -e ".[test,c2pa,ray,plot]"
echo "wmark installed in $venv: $venv/bin/wmark --help; tests: $venv/bin/python -m pytest -q" >&2
