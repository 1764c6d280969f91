"""Simulator tests: the Verilator runtime objects are cached in the venv (not in $HOME), and every
parametrization builds in its own directory so pytest-xdist workers never share one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("HWPRUNE_CACHE_DIR", str(ROOT / ".venv" / ".hwprune-cache"))


@pytest.fixture(scope="session")
def sim_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rtl-sim")


@pytest.fixture(scope="session")
def mlp_digits_build(sim_root: Path) -> Path:
    """The bundled digits MLP compiled as a user would (4 random vectors + 4 edge vectors per case), shared
    by the ``hwprune sim`` tests; they replay copies of it (``copy_build``), never this directory."""
    import subprocess
    import sys

    out = sim_root / "mlp-digits" / "build"
    command = [sys.executable, "-m", "hwprune.cli", "compile", str(ROOT / "examples" / "mlp_digits.onnx"),
               "--board", "zcu102", "--no-estimate", "--vectors", "4", "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out

