"""The chain of a network top: which kernels and stream stages, in which order, on which stream.

Why a plan apart from the graph: the network top, its cycle model and its testbench all need the
same few facts (the kernels as lowered and fitted, the max-pool windows, where the stream order must
be permuted), and ``hwprune sim`` must rebuild them from the build directory alone, so the plan is a
plain dataclass written as JSON next to the Verilog (``rtl/network.json``).

Stream order (the conv engine's, ``hwprune.lower.conv_cycles``): a feature map travels pixel by pixel
(H, W) with the channels inner, ``e = (y·W + x)·C + c``; a vector travels in index order. ONNX's
Flatten of an ``[N, C, H, W]`` tensor is in C·H·W order, so unless ``C == 1`` or ``H·W == 1`` the
two orders differ and a reorder stage (a frame buffer read in C·H·W order) sits between them.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

from hwprune.ir.graph import Graph, Node
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.lower.names import identifier
from hwprune.quant.tables import TABLE_OPS
from hwprune.lower.plan_widths import classes_of, with_widths
from hwprune.lower.stream_widths import StreamClasses, classes_from_links
from hwprune.lower.network_types import (AVERAGE_KINDS, ELEMENTWISE_KINDS, MERGE_KINDS, STAGE_KINDS, MergeSpec,
                                         NetworkPlan, NetworkUnsupported, StagePlan)

__all__ = ["NetworkUnsupported", "StagePlan", "NetworkPlan", "MergeSpec", "plan_network", "wide_links", "port_kernels",
           "stream_classes",
           "top_name", "STAGE_KINDS",
           "MERGE_KINDS", "AVERAGE_KINDS", "ELEMENTWISE_KINDS", "HARD_ACTIVATIONS"]

def top_name(source: str, taken: Sequence[str] = ()) -> str:
    """``<model>_top`` from the source file name, a legal identifier distinct from every kernel's."""
    stem = source.rsplit("/", 1)[-1].split(".", 1)[0] if source else "network"
    base = identifier(f"{stem}_top", prefix="net")
    name, index = base, 1
    while name.lower() in {t.lower() for t in taken}:
        name, index = f"{base}_{index}", index + 1
    return name


def _int_type(graph: Graph, name: str, node: Node) -> IntType:
    dtype = graph.tensor(name).dtype
    if not isinstance(dtype, IntType):
        raise NetworkUnsupported(f"tensor {name!r} is not an integer tensor (graph not quantized?)",
                                 node=node.name, op=node.op)
    return dtype


def _start(graph: Graph) -> str:
    """The integer tensor the top receives: the graph input, or its Quantize node's output."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise NetworkUnsupported("the network top streams one input and one output")
    name = graph.inputs[0]
    consumers = graph.consumers(name)
    if len(consumers) == 1 and consumers[0].op == "Quantize":
        return consumers[0].outputs[0]
    if not graph.tensor(name).is_quantized:
        raise NetworkUnsupported(f"graph input {name!r} is neither integer nor quantized by a Quantize node")
    return name


def _pool_window(graph: Graph, node: Node) -> ConvGeometry:
    x, y = graph.tensor(node.inputs[0]).shape, graph.tensor(node.outputs[0]).shape
    a = node.attrs
    kernel, strides, pads = (tuple(int(v) for v in a[key]) for key in ("kernel", "strides", "pads"))
    return ConvGeometry(in_channels=x[1], in_height=x[2], in_width=x[3], kernel=kernel, strides=strides,  # type: ignore[arg-type]
                        pads=pads, dilations=(1, 1), group=1, out_height=y[2], out_width=y[3])  # type: ignore[arg-type]


def _stage(graph: Graph, node: Node, kernels: dict[str, KernelSpec]) -> StagePlan | None:
    """The stage of one node on the chain (None: the node changes nothing in the stream)."""
    x, y = node.inputs[0], node.outputs[0]
    tin, tout = _int_type(graph, x, node), _int_type(graph, y, node)
    xs, ys = graph.tensor(x).shape, graph.tensor(y).shape
    beats_in, beats_out = math.prod(xs[1:]), math.prod(ys[1:])
    ident = identifier(node.name, prefix="stage")
    if node.op in ("Dense", "Conv"):
        spec = kernels.get(node.name)
        if spec is None:
            raise NetworkUnsupported("has no lowered kernel", node=node.name, op=node.op)
        if spec.in_type != tin or spec.out_type != tout:
            raise NetworkUnsupported("kernel stream types differ from the graph's", node=node.name, op=node.op)
        if node.op == "Dense" and len(xs) != 2:
            raise NetworkUnsupported(f"a Dense layer on a rank-{len(xs)} tensor", node=node.name, op=node.op)
        if spec.kind == "dense":  # a wide stream carries in_simd / out_pe elements per beat
            beats_in, beats_out = spec.in_beats, spec.out_beats
        else:  # a wide frame: frame_simd channels in, out_pe filters out per beat
            beats_in, beats_out = beats_in // spec.frame_simd, beats_out // spec.out_pe
        return StagePlan("kernel", node.name, spec.ident, tin, tout, beats_in, beats_out, kernel=spec)
    if node.op == "MaxPool":
        window = _pool_window(graph, node)
        if tin != tout:
            raise NetworkUnsupported("max pooling that changes the type", node=node.name, op=node.op)
        return StagePlan("maxpool", node.name, ident, tin, tout, beats_in, beats_out, window=window)
    if node.op in ("AveragePool", "GlobalAveragePool"):
        return _average(graph, node, ident, tin, tout, beats_in, beats_out)
    if node.op in HARD_ACTIVATIONS:
        return _hard_activation(node, ident, tin, tout, beats_in, beats_out)
    if node.op in TABLE_OPS:
        if "table" not in node.attrs:
            raise NetworkUnsupported("a table activation without its table (graph not quantized?)",
                                     node=node.name, op=node.op)
        return StagePlan("lut", node.name, ident, tin, tout, beats_in, beats_out,
                         requant=tuple(int(v) for v in node.attrs["table"]))
    if node.op == "Reshape" and len(ys) == 2 and beats_in == beats_out and tin == tout:
        if len(xs) == 4 and xs[1] > 1 and xs[2] * xs[3] > 1:
            return StagePlan("reorder", node.name, ident, tin, tout, beats_in, beats_out,
                             frame=(xs[1], xs[2], xs[3]))
        if len(xs) in (2, 4):
            return None  # H·W·C and C·H·W coincide: a pure re-interpretation of the stream
    raise NetworkUnsupported("has no stream stage in the network top", node=node.name, op=node.op)


HARD_ACTIVATIONS = {
    "HardSigmoid": ("offset", "requant_mult", "requant_shift"),
    "HardSwish": ("gate_offset", "gate_mult", "gate_shift", "requant_mult", "requant_shift"),
}
"""The node attributes (``hwprune.quant.hard_act``) that make a hard activation stage's ``requant``."""


def _hard_activation(node: Node, ident: str, tin: IntType, tout: IntType, beats_in: int,
                     beats_out: int) -> StagePlan:
    """A HardSigmoid or HardSwish: an elementwise stage holding the node's integers in ``requant``."""
    a, keys = node.attrs, HARD_ACTIVATIONS[node.op]
    if any(key not in a for key in keys):
        raise NetworkUnsupported("a hard activation without its integers (graph not quantized?)",
                                 node=node.name, op=node.op)
    values = [a[key][0] if isinstance(a[key], (list, tuple)) else a[key] for key in keys]
    return StagePlan(node.op.lower(), node.name, ident, tin, tout, beats_in, beats_out,
                     requant=tuple(int(v) for v in values))


def _average(graph: Graph, node: Node, ident: str, tin: IntType, tout: IntType, beats_in: int,
             beats_out: int) -> StagePlan:
    """An average pooling: the window sum requantised by the node's (M, sh) (``hwprune.quant.ptq``).
    A window that is the whole frame (GlobalAveragePool, or an AveragePool of kernel H×W and no pads)
    is a ``globalavg`` stage (per-channel accumulators, no row buffer), any other an ``avgpool``."""
    a = node.attrs
    if "requant_mult" not in a or "requant_shift" not in a:
        raise NetworkUnsupported("average pooling without its requantiser (graph not quantized?)",
                                 node=node.name, op=node.op)
    requant = (int(a["requant_mult"][0]), int(a["requant_shift"][0]))
    c, h, w = graph.tensor(node.inputs[0]).shape[1:]
    if node.op == "AveragePool":
        if a.get("ceil_mode") or (any(a["pads"]) and not a.get("count_include_pad")):
            raise NetworkUnsupported("average pooling whose divisor is not the whole window (ceil_mode, or pads "
                                     "without count_include_pad)", node=node.name, op=node.op)
        window = _pool_window(graph, node)
        if window.kernel != (h, w) or any(window.pads) or (window.out_height, window.out_width) != (1, 1):
            return StagePlan("avgpool", node.name, ident, tin, tout, beats_in, beats_out, window=window,
                             requant=requant)
    return StagePlan("globalavg", node.name, ident, tin, tout, beats_in, beats_out, frame=(c, h, w),
                     requant=requant)


def _distinct(stage: StagePlan, earlier: Sequence[StagePlan], kernels: Sequence[KernelSpec]) -> StagePlan:
    """A stream stage's instance name, made unique against the kernels and earlier stages."""
    if stage.kind == "kernel":
        return stage
    taken = {k.ident.lower() for k in kernels} | {s.ident.lower() for s in earlier}
    ident, index = stage.ident, 1
    while ident.lower() in taken:
        ident, index = f"{stage.ident}_{index}", index + 1
    return replace(stage, ident=ident)


def plan_network(graph: Graph, kernels: Sequence[KernelSpec], top: str) -> NetworkPlan:
    """The stages of ``graph`` (quantized) with its lowered ``kernels``: one chain, or (when a tensor
    has several readers or a node two activation inputs) a dataflow graph with fork, add and concat
    stages; raises ``NetworkUnsupported`` for an op the top cannot stream."""
    start = _start(graph)
    if _branches(graph, start):
        plan, output = _plan_graph(graph, kernels, top, start)
        plan = with_widths(plan)
        _check_graph(plan, output)
        return plan
    plan = with_widths(_plan_chain(graph, kernels, top, start))
    _check_chain(plan)
    return plan


def stream_classes(graph: Graph, kernels: Sequence[KernelSpec], limit: int = 16) -> StreamClasses:
    """The width classes of the network top's streams (``hwprune.lower.plan_widths``) for the fitter,
    kernels indexed as in ``kernels``; without a network top (a graph it cannot stream), the chains of
    dense-to-dense links alone (``wide_links``), each layer then verified on its own."""
    try:
        plan = plan_network(graph, [replace(k, in_simd=1, out_pe=1, frame_simd=1) for k in kernels], "classes")
    except NetworkUnsupported:
        return classes_from_links(len(kernels), wide_links(graph, kernels), limit=limit)
    return classes_of(plan, [k.name for k in kernels], limit)


def port_kernels(graph: Graph, kernels: Sequence[KernelSpec]) -> tuple[int | None, int | None]:
    """Indices in ``kernels`` of the dense kernels right behind the top's ``s_axis`` port and right
    before its ``m_axis`` port (None where another stage sits there, or the graph has no network top):
    those ends of a chain of wide links may be wide too, up to the AXI width."""
    try:
        plan = plan_network(graph, [replace(k, in_simd=1, out_pe=1) for k in kernels], "ports")
    except NetworkUnsupported:
        return None, None
    index = {k.name: i for i, k in enumerate(kernels)}

    def dense(stage: StagePlan) -> int | None:
        return index[stage.name] if stage.kernel is not None and stage.kernel.kind == "dense" else None

    return dense(plan.stages[0]), dense(plan.stages[-1])


def wide_links(graph: Graph, kernels: Sequence[KernelSpec]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of ``kernels`` indices where dense kernel ``i``'s output is dense kernel ``j``'s
    input and nothing else's: the streams that may be wide (``in_simd``/``out_pe`` > 1). Why only these:
    every other stage and the fork/add/concat stages take one element per beat, so the fitter widens a
    stream only where both of its ends are engines (or an engine and an AXI port: ``port_kernels``)."""
    index = {k.name: i for i, k in enumerate(kernels)}
    dense = {k.name for k in kernels if k.kind == "dense"}
    links = []
    for node in graph.nodes:
        if node.name not in dense:
            continue
        readers = graph.consumers(node.outputs[0])
        if len(readers) == 1 and readers[0].name in dense and readers[0].inputs[0] == node.outputs[0]:
            links.append((index[node.name], index[readers[0].name]))
    return sorted(links)


def _activations(graph: Graph, node: Node) -> list[str]:
    return [name for name in node.inputs if not graph.tensor(name).is_constant]


def _branches(graph: Graph, start: str) -> bool:
    """Whether the graph after the input quantizer is anything but one straight chain."""
    after = [n for n in graph.nodes if n.outputs[0] != start]
    return any(len(_activations(graph, n)) > 1 for n in after) or \
        any(len(graph.consumers(t)) > 1 for n in after for t in n.outputs) or len(graph.consumers(start)) > 1


def _merge_stage(graph: Graph, node: Node, ident: str) -> StagePlan:
    """The add or concat stage of a node that merges activations (quantized by ``hwprune.quant.merge``)."""
    names = _activations(graph, node)
    types = tuple(_int_type(graph, n, node) for n in names)
    shapes = [graph.tensor(n).shape for n in names]
    beats = tuple(math.prod(s[1:]) for s in shapes)
    tout = _int_type(graph, node.outputs[0], node)
    a = node.attrs
    mults = tuple(int(m) for m in a.get("requant_mult", ()))
    shift = int(a["requant_shift"][0]) if "requant_shift" in a else 0
    if node.op == "Add":
        if len(names) != 2 or shapes[0] != shapes[1] or not mults:
            raise NetworkUnsupported("an Add needs two quantized activations of one shape", node=node.name, op=node.op)
        merge = MergeSpec(types, beats, mults=mults, shift=shift, relu=a.get("activation") == "relu")
        return StagePlan("add", node.name, ident, types[0], tout, beats[0], beats[0], merge=merge)
    if node.op == "Concat" and int(a["axis"]) == 1 and all(len(s) in (2, 4) for s in shapes):
        if not mults and any(t != tout for t in types):
            raise NetworkUnsupported("a Concat of different types without requantisation", node=node.name, op=node.op)
        merge = MergeSpec(types, beats, mults=mults, shift=shift, chunks=tuple(s[1] for s in shapes))
        return StagePlan("concat", node.name, ident, types[0], tout, beats[0], sum(beats), merge=merge)
    raise NetworkUnsupported("has no stream stage in the network top (Concat: along channels only)",
                             node=node.name, op=node.op)


def _plan_graph(graph: Graph, kernels: Sequence[KernelSpec], top: str,
                start: str) -> tuple[NetworkPlan, tuple[int, int] | None]:
    """Stages in node order, each input port naming the (stage, port) it reads; a tensor with several
    readers gets a fork stage right after its producer, one output port per reader."""
    by_name = {k.name: k for k in kernels}
    stages: list[StagePlan] = []
    carried: dict[str, tuple[int, int]] = {}  # tensor -> the stream carrying it (one reader)
    ports: dict[tuple[str, str], tuple[int, int]] = {}  # (tensor, reader) -> a fork's port

    def add(stage: StagePlan) -> int:
        stages.append(_distinct(stage, stages, kernels))
        return len(stages) - 1

    def publish(tensor: str, source: tuple[int, int], node: Node) -> None:
        readers = graph.consumers(tensor)
        if len(readers) <= 1:
            carried[tensor] = source
            return
        t, beats = _int_type(graph, tensor, node), math.prod(graph.tensor(tensor).shape[1:])
        fork = StagePlan("fork", f"{tensor}/fork", identifier(f"{tensor}_fork", prefix="stage"), t, t, beats,
                         beats, sources=(source,), merge=MergeSpec((t,), (beats,), fanout=len(readers)))
        index = add(fork)
        for port, reader in enumerate(readers):
            ports[(tensor, reader.name)] = (index, port)

    publish(start, (-1, 0), graph.nodes[0])
    for node in graph.nodes:
        if node.outputs[0] == start:
            continue
        names = _activations(graph, node)
        try:
            sources = tuple(ports.get((n, node.name)) or carried[n] for n in names)
        except KeyError:
            raise NetworkUnsupported("reads a tensor no stage streams", node=node.name, op=node.op) from None
        ident = identifier(node.name, prefix="stage")
        if node.op in ("Add", "Concat"):
            stage: StagePlan | None = replace(_merge_stage(graph, node, ident), sources=sources)
        elif len(names) != 1:
            raise NetworkUnsupported("has a second activation input", node=node.name, op=node.op)
        else:
            stage = _stage(graph, node, by_name)
        if stage is None:  # a re-interpretation: the same stream carries the output
            publish(node.outputs[0], sources[0], node)
            continue
        publish(node.outputs[0], (add(replace(stage, sources=sources)), 0), node)
    plan = NetworkPlan(top, start, graph.outputs[0], tuple(graph.tensor(start).shape[1:]),
                       tuple(graph.tensor(graph.outputs[0]).shape[1:]), tuple(stages))
    return plan, carried.get(graph.outputs[0])


def _check_graph(plan: NetworkPlan, output: tuple[int, int] | None) -> None:
    """Stage 0 reads the input, the last stage writes the output, every other port is read exactly
    once, and every stream keeps its type and length."""
    stages = plan.stages
    if output != (len(stages) - 1, 0) or stages[-1].ports_out != 1:
        raise NetworkUnsupported("the graph output is not the last stage's only stream")
    if stages[0].sources != ((-1, 0),) or any((-1, 0) in (s.sources or ()) for s in stages[1:]):
        raise NetworkUnsupported("the input stream must feed exactly the first stage")
    reads = sorted((src, port) for src, port, _, _ in plan.links())
    wanted = sorted((i, p) for i, s in enumerate(stages[:-1]) for p in range(s.ports_out))
    if reads != wanted:
        raise NetworkUnsupported("a stage output is read not exactly once (unused or shared stream)")
    for src, port, dst, index in plan.links():
        up, down = stages[src], stages[dst]
        t_in = down.merge.in_types[index] if down.merge else down.in_type
        beats = down.merge.in_beats[index] if down.merge else down.in_beats
        if up.out_type != t_in or up.out_beats != beats or up.out_width != down.in_width:
            raise NetworkUnsupported(f"stream between {up.name!r} and {down.name!r} changes type, length or width")


def _plan_chain(graph: Graph, kernels: Sequence[KernelSpec], top: str, start: str) -> NetworkPlan:
    """One straight chain of Dense/Conv/MaxPool/AveragePool/GlobalAveragePool/HardSigmoid/HardSwish/Flatten
    after the input quantizer."""
    current = start
    by_name = {k.name: k for k in kernels}
    stages: list[StagePlan] = []
    for node in graph.nodes:
        if node.outputs[0] == start:  # the input quantizer: the top receives its integers
            continue
        if node.inputs[0] != current:
            raise NetworkUnsupported("does not continue the chain (branches are not streamed yet)",
                                     node=node.name, op=node.op)
        extra = [n for n in node.inputs[1:] if not graph.tensor(n).is_constant]
        if extra or len(graph.consumers(current)) != 1:
            raise NetworkUnsupported("has a second activation input or a fan-out", node=node.name, op=node.op)
        stage = _stage(graph, node, by_name)
        if stage is not None:
            stages.append(_distinct(stage, stages, kernels))
        current = node.outputs[0]
    if current != graph.outputs[0] or not stages:
        raise NetworkUnsupported("the chain does not end at the graph output")
    ins, outs = graph.tensor(start).shape, graph.tensor(current).shape
    return NetworkPlan(top, start, current, tuple(ins[1:]), tuple(outs[1:]), tuple(stages))


def _check_chain(plan: NetworkPlan) -> None:
    """Every stream of a chain keeps its type, length and width."""
    for up, down in zip(plan.stages, plan.stages[1:]):
        if up.out_type != down.in_type or up.out_beats != down.in_beats or up.out_width != down.in_width:
            raise NetworkUnsupported(f"stream between {up.name!r} and {down.name!r} changes type, length or width")
