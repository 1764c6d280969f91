"""Emit the hardware of the (quantized) TokenSelector nodes of an IR graph: RTL, HLS and golden vectors.

Why a pass of its own: a selector is not lowered to a ``KernelSpec``; it has its own micro-architecture
(``hwprune.tokens.rtl_selector``), HLS project (``hwprune.tokens.hls_writer``) and vectors. Its node
carries its calibrated golden model (``hwprune.tokens.graph_quant``). ``emit_token_selectors`` writes,
for every such node:

    rtl/<ident>.v                    the selector (``TokenSelectorRtl``), lint-clean Verilog
    rtl/token_selectors.json         tops, files, ports, beat format, per-selector facts
    hls/token_selectors/             Vitis HLS project (all selectors) with its golden sets and C-sim testbench
    sim/<ident>.case.json            golden beats, arrivals and the cycle model's cycle of every output beat
    sim/token_selectors.json         which case replays on which top (``hwprune.tokens.rtl_sim``)

``register()`` is the token feature's plug-in of stage ``backends`` (``hwprune.plugins``): the compile's
emit step calls ``emit_for_build`` through ``hwprune.backends.emitters.NODE_EMITTERS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hwprune.backends.emitters import NODE_EMITTERS, EmitRequest
from hwprune.ir.dynamic import row_counts
from hwprune.ir.graph import Graph
from hwprune.lower.names import unique_identifiers
from hwprune.quant.reference import run_integer
from hwprune.sim.golden import write_case
from hwprune.tokens.hardware import SelectorHardware
from hwprune.tokens.hls_writer import write_token_hls, write_token_vectors
from hwprune.tokens.ir_node import int_selector_of, selector_nodes
from hwprune.tokens.rtl_sim import emit_selector_verilog
from hwprune.tokens.token_sets import TOKEN_PORTS, TokenSet, edge_sets, random_sets
from hwprune.tokens.vectors import selector_case

__all__ = ["emit_token_selectors", "emit_for_build", "TokenSelectorDesign", "selector_idents", "graph_sets",
           "register"]


@dataclass(frozen=True)
class TokenSelectorDesign:
    """What was emitted for one selector node."""

    node: str
    ident: str
    verilog: Path
    case: Path
    hls_project: Path
    sets: int
    facts: dict[str, Any]


def selector_idents(graph: Graph) -> list[str]:
    """Identifiers of the selector nodes, distinct from every Dense/Conv kernel's (``lower_graph``'s), so a
    selector's ``rtl/<ident>.v`` and ``sim/<ident>.case.json`` never overwrite a layer's."""
    layers = [node.name for node in graph.nodes if node.op in ("Dense", "Conv")]
    taken = {ident.lower() for ident in unique_identifiers(layers, prefix="layer")}
    idents = []
    for base in unique_identifiers([node.name for node in selector_nodes(graph)], prefix="selector"):
        ident, index = base, 1
        while ident.lower() in taken:
            ident, index = f"{base}_sel{index}", index + 1
        taken.add(ident.lower())
        idents.append(ident)
    return idents


def graph_sets(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, list[TokenSet]]:
    """The int8 token sets (valid rows, package flag) every selector of the quantized ``graph`` sees when
    the integer reference runs on ``feeds``: the network's own golden inputs, seen from the selector."""
    counts = row_counts(graph)
    values = run_integer(graph, feeds, keep_all=True)
    sets: dict[str, list[TokenSet]] = {}
    for node in selector_nodes(graph):
        x, flag = values[node.inputs[0]], graph.tensor(node.inputs[1])
        flags = np.asarray(flag.data if flag.is_constant else values[flag.name]).reshape(-1)
        rows = (np.asarray(values[counts[node.inputs[0]]]).reshape(-1) if node.inputs[0] in counts
                else [x.shape[1]] * len(x))
        sets[node.name] = [TokenSet(np.asarray(x[i, :int(n)], dtype=np.int64), bool(flags[i % flags.size]))
                           for i, n in enumerate(rows)]
    return sets


def emit_token_selectors(graph: Graph, build_dir: str | Path, vectors: int = 32, seed: int = 0,
                         source: str = "", feeds: Mapping[str, np.ndarray] | None = None,
                         hls: bool = True) -> list[TokenSelectorDesign]:
    """Write RTL, HLS and golden vectors of every (quantized) TokenSelector node of ``graph``.

    Each selector's vectors: with ``feeds`` (float graph inputs; a graph from ``quantize_graph``), first
    the sets it sees on them (``graph_sets``), then 16 extreme sets and ``vectors`` random ones. ``hls``
    False (an ASIC target) skips ``hls/token_selectors/``.
    """
    build_dir = Path(build_dir)
    nodes = selector_nodes(graph)
    if not nodes:
        return []
    seen = graph_sets(graph, feeds) if feeds is not None else {}
    items = []
    for node, ident in zip(nodes, selector_idents(graph)):
        sel = int_selector_of(node)
        hw = SelectorHardware.of(sel, int(node.attrs["max_tokens"]), ident)
        sets = seen.get(node.name, []) + edge_sets(hw.dim, hw.max_tokens) + random_sets(
            hw.dim, hw.max_tokens, vectors, seed)
        items.append((node, hw, sel, sets))
    rtl_dir, sim_dir, hls_dir = build_dir / "rtl", build_dir / "sim", build_dir / "hls" / "token_selectors"
    if hls:
        write_token_hls([hw for _, hw, _, _ in items], hls_dir,
                        sources=[f"{source} node {n.name}" for n, *_ in items])
    designs = []
    for node, hw, sel, sets in items:
        verilog = emit_selector_verilog(hw, rtl_dir, f"{source} node {node.name}".strip())
        case = write_case(selector_case(hw, sel, sets, seed, name=hw.ident), sim_dir / f"{hw.ident}.case.json")
        if hls:
            write_token_vectors(hls_dir, hw.ident, sel, sets)
        designs.append(TokenSelectorDesign(node.name, hw.ident, verilog, case, hls_dir, len(sets), hw.facts()))
    manifest = {
        "beat": {"bits": 10, "data": [0, 7], "last": 8, "package": 9, "order": "token-major, D beats per token"},
        "selectors": [{"node": d.node, "top": d.ident, "verilog": [d.verilog.name], "ports": TOKEN_PORTS,
                       "case": d.case.name, "sets": d.sets, "graph_sets": len(seen.get(d.node, [])),
                       "facts": d.facts} for d in designs],
    }
    for directory in (rtl_dir, sim_dir):
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        (directory / "token_selectors.json").write_text(text, encoding="utf-8")
    return designs


def emit_for_build(request: EmitRequest) -> tuple[str, str]:
    """The compile's emit step for the selectors of ``request.graph`` (golden sets from its golden inputs)."""
    designs = emit_token_selectors(request.graph, request.out_dir, seed=request.seed, source=request.source,
                                   feeds=request.feeds, hls=request.hls)
    where = f"rtl/, sim/{', hls/token_selectors/' if request.hls else ''}"
    return "token_selectors", f"{where} ({len(designs)} selectors, {sum(d.sets for d in designs)} golden sets)"


def register() -> None:
    """Plug-in of stage ``backends``: the selector's emitter (idempotent)."""
    NODE_EMITTERS.setdefault("TokenSelector", emit_for_build)
