"""Quantize the TokenSelector nodes of an IR graph and emit their hardware: RTL, HLS and golden vectors.

Why a pass of its own: the graph quantizer (``hwprune.quant.ptq``) has no integer form of a selector, and
a selector's integers (scales of every intermediate, GELU/exp/sigmoid constants) come from observing the
selector's own inputs. ``quantize_token_selectors`` runs the float graph on calibration samples, collects
each selector's candidate sets, calibrates the golden model (``quantize_selector``) and stores it in the
node (attribute ``int_selector``, JSON). ``emit_token_selectors`` then writes, for every such node:

    rtl/<ident>.v                    the selector (``TokenSelectorRtl``), lint-clean Verilog
    rtl/token_selectors.json         tops, files, ports, beat format, per-selector facts
    hls/token_selectors/             Vitis HLS project (all selectors) with its golden sets and C-sim testbench
    sim/<ident>.case.json            golden beats, arrivals and the cycle model's cycle of every output beat
    sim/token_selectors.json         which case replays on which top (``hwprune.tokens.rtl_sim``)
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from hwprune.errors import GraphError, QuantizationError
from hwprune.ir.graph import Graph, Node
from hwprune.lower.names import unique_identifiers
from hwprune.tokens.export import SELECTOR_PARAMS
from hwprune.tokens.hardware import SelectorHardware, int_selector_from_dict, int_selector_to_dict
from hwprune.tokens.reference import IntSelector, quantize_selector
from hwprune.tokens.selector import TokenSelector
from hwprune.tokens.vectors import TOKEN_PORTS, edge_sets, random_sets, selector_case

__all__ = ["quantize_token_selectors", "emit_token_selectors", "TokenSelectorDesign", "selector_nodes",
           "int_selector_of"]

ATTR = "int_selector"


def selector_nodes(graph: Graph) -> list[Node]:
    return [node for node in graph.nodes if node.op == "TokenSelector"]


def _float_selector(graph: Graph, node: Node) -> TokenSelector:
    weights = {role: torch.as_tensor(np.asarray(graph.tensor(name).real_values(), dtype=np.float32))
               for role, name in zip(SELECTOR_PARAMS, node.inputs[2:])}
    dim = int(graph.tensor(node.inputs[0]).shape[-1])
    selector = TokenSelector(dim, int(node.attrs["heads"]))
    with torch.no_grad():
        named = dict(selector.named_parameters())
        for role, value in weights.items():
            named[role].copy_(value)
    return selector.eval()


def _node_inputs(graph: Graph, node: Node, feeds: Mapping[str, np.ndarray]) -> list[torch.Tensor]:
    """The candidate sets [T − 1, D] that ``node`` sees on every calibration sample (batch of one)."""
    from hwprune.ir.execute import run_float

    probe = copy.copy(graph)
    probe.outputs = [node.inputs[0]]
    samples = min(len(np.asarray(v)) for v in feeds.values())
    sets = []
    for i in range(samples):
        one = {}
        for name in graph.inputs:
            x = np.asarray(feeds[name])[i]
            one[name] = x[None] if list(x.shape) == list(graph.tensor(name).shape[1:]) else x
        tokens = run_float(probe, one)[node.inputs[0]]
        sets.append(torch.from_numpy(np.asarray(tokens, dtype=np.float32)[0, 1:]))
    return sets


def quantize_token_selectors(graph: Graph, feeds: Mapping[str, np.ndarray], max_samples: int = 256) -> Graph:
    """A copy of ``graph`` whose TokenSelector nodes carry their calibrated ``IntSelector`` (JSON attr)."""
    nodes = selector_nodes(graph)
    if not nodes:
        raise GraphError("the graph has no TokenSelector node")
    missing = [name for name in graph.inputs if name not in feeds]
    if missing:
        raise QuantizationError(f"no calibration data for graph inputs {missing}")
    feeds = {k: np.asarray(v)[:max_samples] for k, v in feeds.items()}
    out = copy.deepcopy(graph)
    for node in selector_nodes(out):
        calibration = _node_inputs(graph, node, feeds)
        sel = quantize_selector(_float_selector(graph, node), calibration)
        node.attrs[ATTR] = json.loads(json.dumps(int_selector_to_dict(sel)))
    return out


def int_selector_of(node: Node) -> IntSelector:
    if ATTR not in node.attrs:
        raise GraphError("TokenSelector node is not quantized (run quantize_token_selectors first)",
                         node=node.name, op=node.op)
    return int_selector_from_dict(node.attrs[ATTR])  # type: ignore[arg-type]


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


def emit_token_selectors(graph: Graph, build_dir: str | Path, vectors: int = 32, seed: int = 0,
                         source: str = "") -> list[TokenSelectorDesign]:
    """Write RTL, HLS and golden vectors of every (quantized) TokenSelector node of ``graph``."""
    from hwprune.backends.hls.token_writer import write_token_hls, write_token_vectors
    from hwprune.sim.golden import write_case
    from hwprune.tokens.rtl_sim import emit_selector_verilog

    build_dir = Path(build_dir)
    nodes = selector_nodes(graph)
    if not nodes:
        return []
    idents = unique_identifiers([node.name for node in nodes], prefix="selector")
    items = []
    for node, ident in zip(nodes, idents):
        sel = int_selector_of(node)
        hw = SelectorHardware.of(sel, int(node.attrs["max_tokens"]), ident)
        sets = edge_sets(hw.dim, hw.max_tokens) + random_sets(hw.dim, hw.max_tokens, vectors, seed)
        items.append((node, hw, sel, sets))
    rtl_dir, sim_dir, hls_dir = build_dir / "rtl", build_dir / "sim", build_dir / "hls" / "token_selectors"
    write_token_hls([hw for _, hw, _, _ in items], hls_dir, sources=[f"{source} node {n.name}" for n, *_ in items])
    designs = []
    for node, hw, sel, sets in items:
        verilog = emit_selector_verilog(hw, rtl_dir, f"{source} node {node.name}".strip())
        case = write_case(selector_case(hw, sel, sets, seed, name=hw.ident), sim_dir / f"{hw.ident}.case.json")
        write_token_vectors(hls_dir, hw.ident, sel, sets)
        designs.append(TokenSelectorDesign(node.name, hw.ident, verilog, case, hls_dir, len(sets), hw.facts()))
    manifest = {
        "beat": {"bits": 10, "data": [0, 7], "last": 8, "package": 9, "order": "token-major, D beats per token"},
        "selectors": [{"node": d.node, "top": d.ident, "verilog": [d.verilog.name], "ports": TOKEN_PORTS,
                       "case": d.case.name, "sets": d.sets, "facts": d.facts} for d in designs],
    }
    for directory in (rtl_dir, sim_dir):
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        (directory / "token_selectors.json").write_text(text, encoding="utf-8")
    return designs
