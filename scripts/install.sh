#!/usr/bin/env bash
# Install initscope (and, with --test, what its tests need) into the current Python.
#
# PyTorch first: on a CPU-only machine a plain `pip install torch` can pull a
# multi-GB CUDA build, so when no torch is installed we put the CPU build in
# place before initscope's own (honest, ranged) requirement torch>=2.2 is seen.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    # The pinned CPU build (a local file on this project's machines); if it is
    # not to be had, pip resolves torch>=2.2 from pyproject.toml below instead.
    "$PY" -m pip install --quiet "torch==2.13.0" \
      || echo "install.sh: torch==2.13.0 not available; pip will pick a torch>=2.2" >&2
fi

if [[ "${1:-}" == "--test" ]]; then
    "$PY" -m pip install --quiet -e ".[test]"
    # The report tests render pages in headless Chromium (Debian's package).
    if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
          || echo "install.sh: could not install chromium; browser tests will be skipped" >&2
    fi
else
    "$PY" -m pip install --quiet -e .
fi
