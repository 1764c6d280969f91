"""Plug-ins: how a feature that spans stages registers into each stage's table without that stage
importing it.

Why: the pipeline's imports flow one way (ir <- frontend <- quant/prune/tokens <- lower <- backends <-
sim/estimate/report <- flow/cli). A feature such as the token selector needs an ONNX handler, an
executor kernel, a quantizer, an emitter, a simulation check and a report row, one per stage. Each
stage owns a table (``HANDLERS``, ``INT_KERNELS``, ``NODE_EMITTERS`` …) and, before its first lookup,
calls ``load(stage)``. That imports every entry point of the group ``hwprune.<stage>`` (declared in
``pyproject.toml``; a third-party package can declare its own) and calls it, so the feature's module
fills the table. The stage names only the group, never the feature.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from hwprune.errors import HwpruneError

__all__ = ["STAGES", "load", "loaded"]

log = logging.getLogger(__name__)

STAGES = ("ir", "frontend", "quant", "backends", "sim", "report")
"""The stages with a plug-in table; entry-point group ``hwprune.<stage>`` for each."""

_loaded: set[str] = set()


def load(stage: str) -> None:
    """Run every plug-in registered for ``stage`` (once per process; re-entrant while loading)."""
    if stage in _loaded:
        return
    if stage not in STAGES:
        raise ValueError(f"unknown plug-in stage {stage!r}; stages: {', '.join(STAGES)}")
    _loaded.add(stage)  # before the calls: a plug-in that uses its own stage's tables must not recurse
    found = sorted(entry_points(group=f"hwprune.{stage}"), key=lambda ep: ep.name)
    if not found and stage in ("ir", "frontend"):
        log.warning("no hwprune.%s plug-ins found: is hwprune installed (pip install -e .)?", stage)
    for point in found:
        try:
            register = point.load()
        except ImportError as exc:
            _loaded.discard(stage)
            raise HwpruneError(f"plug-in {point.name!r} of stage {stage} ({point.value}) failed to load: {exc}") \
                from exc
        register()


def loaded() -> frozenset[str]:
    """The stages whose plug-ins have run (for tests and ``--debug`` output)."""
    return frozenset(_loaded)
