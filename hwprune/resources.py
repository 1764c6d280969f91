"""Find the hand-written trees that ship inside the wheel: ``boards/``, ``hls/``, ``rtl/``, ``sim/``.

In a wheel (or an editable install) they are packages ``hwprune._<name>`` (pyproject's package-dir
mapping); when hwprune is imported straight from a checkout they are the top-level directories.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["shipped_dir", "SHIPPED"]

SHIPPED = ("boards", "hls", "rtl", "sim")


def shipped_dir(name: str) -> Path:
    """Directory of the shipped tree ``name`` (one of ``SHIPPED``)."""
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped tree {name!r}; known: {', '.join(SHIPPED)}")
    try:
        spec = importlib.util.find_spec(f"hwprune._{name}")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        # a namespace package (no __init__.py in the shipped tree): its one directory
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parent.parent / name
