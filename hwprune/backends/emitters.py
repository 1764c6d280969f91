"""Emitters for ops that are not lowered to a ``KernelSpec`` (their own hardware, vectors and projects).

Why a table: the emit step writes the layers' RTL and HLS itself (``hwprune.backends.rtl``, ``.hls``),
but an op that brings its own micro-architecture (the token selector today) emits its files through the
function its feature registers here (a plug-in of stage ``backends``, ``hwprune.plugins``), so neither
the backends nor the flow import the feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from hwprune import plugins
from hwprune.ir.graph import Graph

__all__ = ["EmitRequest", "NodeEmitter", "NODE_EMITTERS", "emitters_for"]


@dataclass(frozen=True)
class EmitRequest:
    """What an emitter gets: the quantized graph, the build directory being written, and the options."""

    graph: Graph
    out_dir: Path
    seed: int
    source: str
    """The model's file name, for the banners of generated files."""
    feeds: Mapping[str, np.ndarray] | None
    """The network's golden inputs (float graph inputs), or None."""
    hls: bool
    """Whether the target has an HLS flow (False for ASIC)."""


NodeEmitter = Callable[[EmitRequest], tuple[str, str]]
"""Writes an op's files; returns (key, one-line summary) for the report's ``emitted`` table."""
NODE_EMITTERS: dict[str, NodeEmitter] = {}
"""Op type -> its emitter (filled by plug-ins of stage ``backends``)."""


def emitters_for(graph: Graph) -> list[NodeEmitter]:
    """The emitters of the ops present in ``graph``, in op-name order (deterministic)."""
    plugins.load("backends")
    return [NODE_EMITTERS[op] for op in sorted({node.op for node in graph.nodes} & set(NODE_EMITTERS))]
