"""The DATAFLOW network top of a quantized graph: its stages in topological order, and the streams between.

Feature maps stream channels-last. The walk follows ``graph.nodes`` (topologically ordered) from the
input's Quantize output to the graph output:

- a tensor read by several nodes goes through ``fork2`` stages (chained for more than two readers), so
  that every ``hls::stream`` has exactly one writer and one reader, as a DATAFLOW region requires;
- ``Add`` and ``Concat`` read two streams (a Concat of more inputs is a chain of two-input links);
- a Reshape that keeps the beat order reuses its input's stream; a Flatten of a C x H x W map is folded
  into the Dense that is its only reader (``flatten_channels``), otherwise it is a ``flatten`` stage.

**Skip FIFOs.** Every stream is ``depth=2`` except a fork output whose reader does not read its whole
input before it writes (an Add, a Concat, a ReLU or another element-wise stage, not a kernel, pool or
flatten, which buffer the frame themselves): that stream holds one whole inference of the forked tensor
(its element count). Then no fork ever blocks on a write within an inference, and a DATAFLOW graph whose
forks never block cannot deadlock (a stuck read traces upstream to a fork that has written everything; a
stuck write needs a reader that waits on another branch, which again traces upstream only). The bound is
tight for these kernels: the other branch of a residual block starts with a frame-buffered conv, which
consumes the whole tensor before the Add can read its first element. A chain has no fork and renders
exactly as before.
"""

from __future__ import annotations

from typing import Any, Sequence

from hwprune.errors import BuildError, UnsupportedOpError
from hwprune.ir.graph import Graph, Node
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.names import identifier

from .context import ctype, mac_layer
from .stages import NODE_STAGES, concat_stage, count, fork_stage, int_type

__all__ = ["network_stages", "SUPPORTED_OPS", "SHALLOW_DEPTH"]

SHALLOW_DEPTH = 2
SUPPORTED_OPS = ("Dense", "Conv", "Reshape", "Concat", *NODE_STAGES)
Source = tuple[int, int]  # (stage index, output port); (-1, 0) is the top's input stream x_in
Read = tuple[str, str, int]  # (tensor, reading node, input index)


def _reshape_channels(graph: Graph, node: Node, src: str, dst: str) -> int:
    """How a Reshape acts on channels-last streams: 1 = same beat order (alias the stream), C = a Flatten
    of a C x H x W map (beats must be reordered to (c, h, w)); anything else has no HLS stage."""
    x, y = graph.tensor(src).shape[1:], graph.tensor(dst).shape[1:]
    if count(graph, src) != count(graph, dst):
        raise BuildError("Reshape changes the element count", node=node.name, op=node.op)

    def trivial(shape: list[int]) -> bool:  # channels-last order equals row-major order
        return len(shape) != 3 or shape[0] == 1 or shape[1] * shape[2] == 1
    if trivial(x) and trivial(y):
        return 1
    if len(x) == 3 and len(y) == 1:
        return x[0]
    raise UnsupportedOpError(f"Reshape {list(x)} -> {list(y)} has no HLS stage (only Flatten)",
                             node=node.name, op=node.op)


class _Walk:
    """The stages of one graph, each with the (stage, port) sources of its inputs."""

    def __init__(self, graph: Graph, kernels: Sequence[KernelSpec]) -> None:
        self.graph = graph
        self.by_name = {spec.name: spec for spec in kernels}
        self.stages: list[dict[str, Any]] = []
        self.sources: dict[Read, Source] = {}
        self.folded: dict[str, int] = {}  # Flatten output -> channels, folded into its Dense reader
        self.output: Source | None = None
        self.reads: dict[str, list[tuple[str, int]]] = {}
        for node in graph.nodes:
            for index, name in enumerate(node.inputs):
                if not graph.tensor(name).is_constant:
                    self.reads.setdefault(name, []).append((node.name, index))

    def add(self, stage: dict[str, Any], sources: Sequence[Source]) -> Source:
        stage.setdefault("ports", 1)
        self.stages.append({**stage, "sources": list(sources)})
        return len(self.stages) - 1, 0

    def publish(self, tensor: str, source: Source, node: Node) -> None:
        """Route ``tensor`` (carried by ``source``) to each of its readers, through forks if several."""
        reads = self.reads.get(tensor, [])
        if tensor in self.graph.outputs:
            if reads:
                raise UnsupportedOpError(f"the graph output {tensor!r} is also read by node {reads[0][0]!r}; the "
                                         "HLS top streams the output only out", node=node.name, op=node.op)
            self.output = source
            return
        if not reads:
            raise UnsupportedOpError(f"output {tensor!r} is read by no node and is not the graph output",
                                     node=node.name, op=node.op)
        for reader in reads[:-1]:
            fork = fork_stage(tensor, int_type(self.graph, tensor, node), count(self.graph, tensor))
            index, _ = self.add(fork, [source])
            self.sources[(tensor, *reader)] = (index, 0)
            source = (index, 1)
        self.sources[(tensor, *reads[-1])] = source

    def inputs(self, node: Node) -> tuple[list[str], list[Source]]:
        names, sources = [], []
        for index, name in enumerate(node.inputs):
            if self.graph.tensor(name).is_constant:
                continue
            source = self.sources.pop((name, node.name, index), None)
            if source is None:
                raise UnsupportedOpError(f"reads {name!r}, which no stage streams (the HLS top starts at the "
                                         "input's Quantize output)", node=node.name, op=node.op)
            names.append(name)
            sources.append(source)
        return names, sources

    def node(self, node: Node) -> None:
        names, sources = self.inputs(node)
        out = node.outputs[0]
        if len(node.outputs) != 1:
            raise UnsupportedOpError("has several outputs; no HLS stream stage", node=node.name, op=node.op)
        if node.op == "Concat":
            self.publish(out, self.concat(node, names, sources), node)
            return
        if len(names) != (2 if node.op == "Add" else 1):
            raise UnsupportedOpError(f"has {len(names)} activation inputs", node=node.name, op=node.op)
        stage: dict[str, Any] = {"node": node.name, "op": node.op}
        if node.op == "Reshape":
            channels = _reshape_channels(self.graph, node, names[0], out)
            readers = self.reads.get(out, [])
            if channels == 1 or (len(readers) == 1 and self.graph.node(readers[0][0]).op == "Dense"
                                 and out not in self.graph.outputs):
                if channels > 1:
                    self.folded[out] = channels
                self.publish(out, sources[0], node)
                return
            dtype = int_type(self.graph, out, node)
            stage.update(kind="flatten", data_t=ctype(dtype), channels=channels,
                         pixels=count(self.graph, out) // channels, drains=True)
        elif node.op in ("Dense", "Conv"):
            stage.update(self.mac(node, names[0], out))
        elif node.op in NODE_STAGES:
            stage.update(NODE_STAGES[node.op](self.graph, node, names))
        else:
            raise UnsupportedOpError(f"has no HLS stage (supported: {', '.join(SUPPORTED_OPS)})",
                                     node=node.name, op=node.op)
        stage["out_type"] = int_type(self.graph, out, node)
        stage["count"] = count(self.graph, out)
        self.publish(out, self.add(stage, sources), node)

    def mac(self, node: Node, x: str, out: str) -> dict[str, Any]:
        spec = self.by_name.get(node.name)
        where = {"node": node.name, "op": node.op}
        if spec is None:
            raise BuildError("no KernelSpec for this layer (lower the graph first)", **where)
        if (spec.in_type, spec.out_type) != (int_type(self.graph, x, node), int_type(self.graph, out, node)):
            raise BuildError("KernelSpec types do not match the graph tensors", **where)
        layer = mac_layer(spec)
        if (layer["in_count"], layer["out_count"]) != (count(self.graph, x), count(self.graph, out)):
            raise BuildError("KernelSpec shapes do not match the graph tensors", **where)
        if x in self.folded:
            layer["config"]["flatten_channels"] = self.folded[x]
        return {"kind": "mac", "layer": layer, "ident": spec.ident, "drains": True}

    def concat(self, node: Node, names: list[str], sources: list[Source]) -> Source:
        """A channel Concat as a chain of ``concat2`` links: link i joins the result so far and input i+1."""
        where = {"node": node.name, "op": node.op}
        shapes = [self.graph.tensor(n).shape for n in names]
        rank = len(shapes[0])
        axis = int(node.attrs["axis"]) % rank
        if len(names) < 2 or rank not in (2, 4) or axis != 1 or \
                any(len(s) != rank or s[2:] != shapes[0][2:] for s in shapes):
            raise UnsupportedOpError("only a Concat of two or more [N, C, H, W] or [N, F] activations along "
                                     "channels has an HLS stage", **where)
        out = int_type(self.graph, node.outputs[0], node)
        mults: list[int | None] = [int(m) for m in node.attrs["requant_mult"]] if "requant_mult" in node.attrs \
            else [None] * len(names)
        shift = int(node.attrs["requant_shift"][0]) if "requant_shift" in node.attrs else 1
        if len(mults) != len(names) or not 1 <= shift <= 62 or any(m is not None and m < 0 for m in mults):
            raise BuildError("requant_mult/requant_shift do not fit the Concat's inputs", **where)
        pixels = shapes[0][2] * shapes[0][3] if rank == 4 else 1
        part = (int_type(self.graph, names[0], node), shapes[0][1], mults[0])
        source = sources[0]
        for index in range(1, len(names)):
            parts = [part, (int_type(self.graph, names[index], node), shapes[index][1], mults[index])]
            stage = concat_stage(node, parts, pixels, shift, out, index - 1)
            source = self.add(stage, [source, sources[index]])
            part = (out, part[1] + shapes[index][1], None)
        return source


def _depth(stages: list[dict[str, Any]], source: Source, reader: int) -> tuple[int, str]:
    """(depth, comment) of the stream ``source`` → stage ``reader`` (module docstring: skip FIFOs)."""
    producer = stages[source[0]]
    if producer.get("function") != "fork2" or stages[reader].get("drains"):
        return SHALLOW_DEPTH, ""
    return int(producer["count"]), "  // skip FIFO: one inference of the forked tensor, so no fork blocks"


def network_stages(graph: Graph, kernels: Sequence[KernelSpec]) -> dict[str, Any]:
    """The DATAFLOW top of a quantized graph: stages, streams (with depths), port types and sizes.

    Graphs with ops that have no HLS stage, or that do not stream one input to one output, are
    rejected naming the node.
    """
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise BuildError("the HLS network top needs one input and one output, "
                         f"not {graph.inputs} → {graph.outputs}")
    first = graph.nodes[0] if graph.nodes else None
    if first is None or first.op != "Quantize" or first.inputs[0] != graph.inputs[0]:
        raise BuildError("the HLS network top starts at the input's Quantize node; the graph has none first")
    start = first.outputs[0]
    walk = _Walk(graph, kernels)
    walk.publish(start, (-1, 0), first)
    for node in graph.nodes[1:]:
        walk.node(node)
    stages = walk.stages
    if not stages:
        raise BuildError("the graph has no layer after its Quantize node")
    if walk.output != (len(stages) - 1, 0) or stages[-1]["ports"] != 1:
        raise BuildError(f"the graph output {graph.outputs[0]!r} is not the last stage's only stream")
    _connect(stages, {spec.ident.lower() for spec in kernels})
    return {
        "stages": stages, "streams": [s for stage in stages for s in stage.pop("streams")],
        "in_t": ctype(int_type(graph, start, first)), "out_t": ctype(stages[-1]["out_type"]),
        "in_count": count(graph, start), "out_count": count(graph, graph.outputs[0]),
    }


def _connect(stages: list[dict[str, Any]], taken: set[str]) -> None:
    """Name every stage and stream, and set each stage's ``in_stream(s)`` / ``out_stream(s)``."""
    readers: dict[Source, int] = {src: i for i, stage in enumerate(stages) for src in stage["sources"]}
    names: dict[Source, str] = {(-1, 0): "x_in", (len(stages) - 1, 0): "y_out"}
    for index, stage in enumerate(stages):
        if "ident" not in stage:
            base = identifier(stage.get("base", stage["node"]), prefix="stage")
            ident, n = base, 1
            while ident.lower() in taken:
                ident, n = f"{base}_{n}", n + 1
            taken.add(ident.lower())
            stage["ident"] = ident
        stage["streams"] = []
        for port in range(stage["ports"]):
            if (index, port) in names:
                continue
            var = f"s{index}_{stage['ident']}" + (f"_{port}" if stage["ports"] > 1 else "")
            depth, note = _depth(stages, (index, port), readers[(index, port)])
            stage["streams"].append({"var": var, "type": ctype(stage["out_type"]), "count": stage["count"],
                                     "depth": depth, "note": note})
            names[(index, port)] = var
        stage["in_streams"] = [names[src] for src in stage.pop("sources")]
        stage["in_stream"] = stage["in_streams"][0]
        stage["out_streams"] = [names[(index, port)] for port in range(stage["ports"])]
        stage["out_stream"] = stage["out_streams"][0]

