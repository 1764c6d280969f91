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
from hwprune.tokens.vectors import TOKEN_PORTS, TokenSet, edge_sets, random_sets, selector_case

__all__ = ["quantize_token_selectors", "emit_token_selectors", "TokenSelectorDesign", "selector_nodes",
           "int_selector_of", "float_selector", "selector_idents", "graph_sets", "selector_summary"]

ATTR = "int_selector"


def selector_nodes(graph: Graph) -> list[Node]:
    return [node for node in graph.nodes if node.op == "TokenSelector"]


def float_selector(graph: Graph, node: Node) -> TokenSelector:
    """The torch selector of a float node (its 12 weight constants)."""
    weights = {role: torch.as_tensor(np.asarray(graph.tensor(name).real_values(), dtype=np.float32))
               for role, name in zip(SELECTOR_PARAMS, node.inputs[2:])}
    dim = int(graph.tensor(node.inputs[0]).shape[-1])
    selector = TokenSelector(dim, int(node.attrs["heads"]))
    with torch.no_grad():
        named = dict(selector.named_parameters())
        for role, value in weights.items():
            named[role].copy_(value)
    return selector.eval()


def quantize_token_selectors(graph: Graph, feeds: Mapping[str, np.ndarray], max_samples: int = 256) -> Graph:
    """A copy of ``graph`` whose TokenSelector nodes carry their calibrated ``IntSelector`` (JSON attr).

    Selector-only: each selector picks its own input scale. ``hwprune.quant.quantize_graph`` quantizes a
    whole graph instead (selectors at their input tensor's scale, ``hwprune.tokens.graph_quant``).
    """
    from hwprune.tokens.dynamic import trace_float

    nodes = selector_nodes(graph)
    if not nodes:
        raise GraphError("the graph has no TokenSelector node")
    missing = [name for name in graph.inputs if name not in feeds]
    if missing:
        raise QuantizationError(f"no calibration data for graph inputs {missing}")
    feeds = {k: np.asarray(v)[:max_samples] for k, v in feeds.items()}
    _, calibration = trace_float(graph, feeds)
    out = copy.deepcopy(graph)
    for node in selector_nodes(out):
        sel = quantize_selector(float_selector(graph, node), calibration[node.name])
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
    from hwprune.quant.reference import run_integer
    from hwprune.tokens.dynamic import token_counts

    counts = token_counts(graph)
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
    from hwprune.backends.hls.token_writer import write_token_hls, write_token_vectors
    from hwprune.sim.golden import write_case
    from hwprune.tokens.rtl_sim import emit_selector_verilog

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


def selector_summary(node: Node) -> dict[str, Any]:
    """A quantized selector's row facts for ``report.json``: size, MACs of one set and the cycle model's
    cycles per set at the most tokens, all candidates kept or all fused (``hwprune.tokens.cycles``, default
    parallelism; inputs offered from cycle 0)."""
    from hwprune.tokens.cycles import selector_cycles

    hw = SelectorHardware.of(int_selector_of(node), int(node.attrs["max_tokens"]), "selector")
    tokens = hw.max_tokens
    per_head = {"local": tokens - 1, "score1": tokens - 1, "score2": tokens - 1, "score3": tokens - 1,
                "head1": 1, "head2": 1}  # vectors per head through each Linear
    macs = sum(hw.kernels[name].useful_macs * hw.heads * count for name, count in per_head.items())
    return {"dim": hw.dim, "heads": hw.heads, "max_tokens": tokens, "macs_per_set": macs,
            "cycles_all_kept": selector_cycles(hw, tokens, tokens - 1),
            "cycles_all_fused": selector_cycles(hw, tokens, 0)}
