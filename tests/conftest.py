"""Shared fixtures: paths of the bundled examples, the digits split, caches kept out of $HOME, and
Verilated models compiled for short simulations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

os.environ.setdefault("YOWASP_CACHE_DIR", str(ROOT / ".venv" / ".yowasp-cache"))
# the suite's simulations are short: compile Verilated models at -O0 (hwprune.sim.rtl_runner.model_opt_level)
os.environ.setdefault("HWPRUNE_VERILATOR_OPT", "-O0")


@pytest.fixture(scope="session")
def digits():
    from hwprune.datasets import load_digits_split

    return load_digits_split(0)


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES
