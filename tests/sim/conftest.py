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
