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
from dataclasses import dataclass, replace
from typing import Any, Sequence

from hwprune.errors import HwpruneError
from hwprune.ir.graph import Graph, Node
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.lower.names import identifier

__all__ = ["NetworkUnsupported", "StagePlan", "NetworkPlan", "plan_network", "top_name", "STAGE_KINDS"]

STAGE_KINDS = ("kernel", "maxpool", "reorder")


class NetworkUnsupported(HwpruneError):
    """The graph is not a single chain of ops the network top can stream (layers are still verified)."""


@dataclass(frozen=True)
class StagePlan:
    """One box of the chain. ``kernel``: a lowered Dense/Conv layer (its own Verilog module);
    ``maxpool``: a window max over ``window`` (a ``ConvGeometry`` with group 1, no dilation);
    ``reorder``: the H·W·C → C·H·W permutation of a ``frame`` = (C, H, W)."""

    kind: str
    name: str
    ident: str
    in_type: IntType
    out_type: IntType
    in_beats: int
    out_beats: int
    kernel: KernelSpec | None = None
    window: ConvGeometry | None = None
    frame: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in STAGE_KINDS:
            raise ValueError(f"kind must be one of {STAGE_KINDS}, not {self.kind!r}")
        needed = {"kernel": self.kernel, "maxpool": self.window, "reorder": self.frame}[self.kind]
        if needed is None:
            raise ValueError(f"a {self.kind} stage needs its {'kernel' if self.kind == 'kernel' else 'geometry'}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "ident": self.ident, "in_type": self.in_type.to_dict(),
            "out_type": self.out_type.to_dict(), "in_beats": self.in_beats, "out_beats": self.out_beats,
            "kernel": self.kernel.to_dict() if self.kernel else None,
            "window": self.window.to_dict() if self.window else None,
            "frame": list(self.frame) if self.frame else None,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "StagePlan":
        return StagePlan(
            kind=data["kind"], name=data["name"], ident=data["ident"],
            in_type=IntType(data["in_type"]["bits"], data["in_type"]["signed"]),
            out_type=IntType(data["out_type"]["bits"], data["out_type"]["signed"]),
            in_beats=int(data["in_beats"]), out_beats=int(data["out_beats"]),
            kernel=KernelSpec.from_dict(data["kernel"]) if data["kernel"] else None,
            window=ConvGeometry.from_dict(data["window"]) if data["window"] else None,
            frame=tuple(data["frame"]) if data["frame"] else None,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class NetworkPlan:
    """The whole chain: ``input_tensor`` is the integer tensor the top's input stream carries (the
    output of the graph's Quantize node), fed by name to the integer reference."""

    top: str
    input_tensor: str
    output_tensor: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    stages: tuple[StagePlan, ...]

    @property
    def in_type(self) -> IntType:
        return self.stages[0].in_type

    @property
    def out_type(self) -> IntType:
        return self.stages[-1].out_type

    @property
    def in_beats(self) -> int:
        return self.stages[0].in_beats

    @property
    def out_beats(self) -> int:
        return self.stages[-1].out_beats

    def to_dict(self) -> dict[str, Any]:
        return {"top": self.top, "input_tensor": self.input_tensor, "output_tensor": self.output_tensor,
                "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
                "stages": [s.to_dict() for s in self.stages]}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "NetworkPlan":
        return NetworkPlan(data["top"], data["input_tensor"], data["output_tensor"], tuple(data["input_shape"]),
                           tuple(data["output_shape"]), tuple(StagePlan.from_dict(s) for s in data["stages"]))


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
        return StagePlan("kernel", node.name, spec.ident, tin, tout, beats_in, beats_out, kernel=spec)
    if node.op == "MaxPool":
        window = _pool_window(graph, node)
        if tin != tout:
            raise NetworkUnsupported("max pooling that changes the type", node=node.name, op=node.op)
        return StagePlan("maxpool", node.name, ident, tin, tout, beats_in, beats_out, window=window)
    if node.op == "Reshape" and len(ys) == 2 and beats_in == beats_out and tin == tout:
        if len(xs) == 4 and xs[1] > 1 and xs[2] * xs[3] > 1:
            return StagePlan("reorder", node.name, ident, tin, tout, beats_in, beats_out,
                             frame=(xs[1], xs[2], xs[3]))
        if len(xs) in (2, 4):
            return None  # H·W·C and C·H·W coincide: a pure re-interpretation of the stream
    raise NetworkUnsupported("has no stream stage in the network top", node=node.name, op=node.op)


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
    """The chain of ``graph`` (quantized) with its lowered ``kernels``; raises ``NetworkUnsupported``
    for anything but one straight chain of Dense/Conv/MaxPool/Flatten after the input quantizer."""
    start = current = _start(graph)
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
    for up, down in zip(stages, stages[1:]):
        if up.out_type != down.in_type or up.out_beats != down.in_beats:
            raise NetworkUnsupported(f"stream between {up.name!r} and {down.name!r} changes type or length")
    ins, outs = graph.tensor(start).shape, graph.tensor(current).shape
    return NetworkPlan(top, start, current, tuple(ins[1:]), tuple(outs[1:]), tuple(stages))
