"""The network plan's types: the stages of a network top and the streams between them.

Why a module apart from the planner: the plan is read back by ``hwprune sim`` from ``rtl/network.json``
alone, and the graph planners (the chain in ``network_plan``, branches and merges in ``network_dag``)
both build it. A chain has no ``sources`` (stage ``i`` reads stage ``i - 1``) and serialises exactly
as before branches existed; a graph that branches names, for every stage, the (stage, output port) each
input port reads (``-1``: the top's input stream), and a ``MergeSpec`` for its fork, add and concat stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hwprune.errors import HwpruneError
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec

__all__ = ["NetworkUnsupported", "StagePlan", "NetworkPlan", "MergeSpec", "STAGE_KINDS", "MERGE_KINDS",
           "AVERAGE_KINDS", "ELEMENTWISE_KINDS", "NARROW_STAGE_KINDS", "WIDE_STAGE_KINDS",
           "check_stage_width", "Link", "average_sum_bits", "requant_operand_bits", "axis_width"]

MERGE_KINDS = ("fork", "add", "concat")
Link = tuple[int, int, int, int]
"""(producer stage, its output port, consumer stage, its input port): one FIFO of the top."""


def axis_width(bits: int) -> int:
    """AXI-Stream ``TDATA`` lanes are whole bytes: the lane of one ``bits``-bit value."""
    return 8 * ((bits + 7) // 8)


def _int_type(data: dict[str, Any]) -> IntType:
    return IntType(data["bits"], data["signed"])


@dataclass(frozen=True)
class MergeSpec:
    """A stage of several streams. ``fork``: one input copied to ``fanout`` outputs. ``add``: two
    inputs of ``in_beats`` each, ``sat((a·M_a + b·M_b + 2^(sh-1)) >> sh)`` (clamped at 0 with
    ``relu``). ``concat``: per block of the stream, ``chunks[p]`` beats from input ``p`` in turn (channels
    inner), each ``sat((x·M_p + 2^(sh-1)) >> sh)`` unless ``mults`` is empty (same scales)."""

    in_types: tuple[IntType, ...]
    in_beats: tuple[int, ...]
    fanout: int = 1
    mults: tuple[int, ...] = ()
    shift: int = 0
    relu: bool = False
    chunks: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"in_types": [t.to_dict() for t in self.in_types], "in_beats": list(self.in_beats),
                "fanout": self.fanout, "mults": list(self.mults), "shift": self.shift, "relu": self.relu,
                "chunks": list(self.chunks)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "MergeSpec":
        return MergeSpec(tuple(_int_type(t) for t in data["in_types"]), tuple(int(b) for b in data["in_beats"]),
                         int(data["fanout"]), tuple(int(m) for m in data["mults"]), int(data["shift"]),
                         bool(data["relu"]), tuple(int(c) for c in data["chunks"]))


AVERAGE_KINDS = ("avgpool", "globalavg")
ELEMENTWISE_KINDS = ("hardsigmoid", "hardswish", "lut")
STAGE_KINDS = ("kernel", "maxpool", "reorder", *MERGE_KINDS, *AVERAGE_KINDS, *ELEMENTWISE_KINDS)
NARROW_STAGE_KINDS = ("maxpool", "avgpool", "reorder")
"""The stages that take one element per beat (their row buffers and permutations are element-serial);
the one place this rule is written (the planner, the cycle model and the RTL top ask here)."""
WIDE_STAGE_KINDS = tuple(kind for kind in STAGE_KINDS if kind != "kernel" and kind not in NARROW_STAGE_KINDS)
"""The stages that are not kernels but take several elements per beat."""


def check_stage_width(stage: "StagePlan") -> None:
    """ValueError if a stage of ``NARROW_STAGE_KINDS`` is given more than one element per beat."""
    if stage.kind in NARROW_STAGE_KINDS and stage.width != 1:
        raise ValueError(f"stage {stage.name!r}: a {stage.kind} stage takes one element per beat, "
                         f"not width {stage.width}")


REQUANT_SIZES = {"avgpool": 2, "globalavg": 2, "hardsigmoid": 3, "hardswish": 5}
"""How many integers ``StagePlan.requant`` holds per kind: (M, sh) for the averages, (c, M, sh) for a
HardSigmoid, (c_g, M_g, sh_g, M, sh) for a HardSwish (``hwprune.quant.hard_act``). A ``lut`` stage
(Sigmoid, Tanh: ``hwprune.quant.tables``) holds its table, one entry per input code (``2^in_bits``)."""


def requant_operand_bits(natural: int, mult: int, shift: int) -> int:
    """Signed width of a requantiser's operand that needs ``natural`` bits, widened so the rounding
    constant ``2^(sh-1)`` fits the operand's product with ``M`` (``merge_stages.requantise``)."""
    return max(natural, shift - max(1, mult.bit_length()) + 1)


def average_sum_bits(in_type: IntType, count: int, mult: int, shift: int) -> int:
    """Signed width of an average stage's sum of ``count`` values of ``in_type`` (one bit more than the
    sum needs, so an unsigned sum stays non-negative), widened for the requantiser
    (``requant_operand_bits``): the RTL's register and the resource model's figure."""
    return requant_operand_bits(in_type.bits + (count - 1).bit_length() + 1, mult, shift)


class NetworkUnsupported(HwpruneError):
    """The graph is not a single chain of ops the network top can stream (layers are still verified)."""


@dataclass(frozen=True)
class StagePlan:
    """One box of the chain. ``kernel``: a lowered Dense/Conv layer (its own Verilog module);
    ``maxpool``: a window max over ``window`` (a ``ConvGeometry`` with group 1, no dilation);
    ``reorder``: the H·W·C → C·H·W permutation of a ``frame`` = (C, H, W);
    ``avgpool``: a window sum over ``window`` (padding counts as 0), requantised by ``requant`` =
    (M, sh): ``sat((sum·M + 2^(sh-1)) >> sh)``; ``globalavg``: the same over the whole H·W of a ``frame``
    = (C, H, W), one output per channel (``hwprune.backends.rtl.avgpool`` says why it is a kind apart);
    ``hardsigmoid``, ``hardswish``: elementwise, the integers of ``hwprune.quant.hard_act`` in ``requant``
    (``REQUANT_SIZES``), any stream of ``in_beats`` beats; ``lut``: elementwise, ``requant`` is the
    table of ``hwprune.quant.tables`` (entry ``q - in_min`` for input code ``q``)."""

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
    sources: tuple[tuple[int, int], ...] | None = None
    merge: MergeSpec | None = None
    requant: tuple[int, ...] | None = None
    width: int = 1
    """Elements per beat on every port of a stage that is not a kernel: ``width`` consecutive elements of
    its streams (on a feature map, channels ``c … c + width - 1`` of one pixel, so ``width`` divides the
    channels), element ``j`` of a beat in bits ``[j·b, (j+1)·b)``. ``in_beats``/``out_beats`` and a
    merge's ``in_beats`` count beats; a concat's ``chunks`` count channels. A kernel's widths are its
    own (``KernelSpec.in_port_width``, ``out_pe``); its ``width`` stays 1."""

    @property
    def in_width(self) -> int:
        """Elements per input beat: a kernel's input port width (a dense kernel's ``in_simd``), else
        ``width``."""
        return self.kernel.in_port_width if self.kernel is not None else self.width

    @property
    def out_width(self) -> int:
        """Elements per output beat: a kernel's ``out_pe``, else ``width``."""
        return self.kernel.out_pe if self.kernel is not None else self.width

    @property
    def ports_in(self) -> int:
        return len(self.merge.in_types) if self.merge is not None else 1

    @property
    def ports_out(self) -> int:
        return self.merge.fanout if self.merge is not None else 1

    def __post_init__(self) -> None:
        if self.kind not in STAGE_KINDS:
            raise ValueError(f"kind must be one of {STAGE_KINDS}, not {self.kind!r}")
        needed = {"kernel": self.kernel, "maxpool": self.window, "reorder": self.frame, "avgpool": self.window,
                  "globalavg": self.frame, **{kind: self.merge for kind in MERGE_KINDS}}.get(self.kind, True)
        if needed is None:
            raise ValueError(f"a {self.kind} stage needs its {'kernel' if self.kind == 'kernel' else 'geometry'}")
        size = (1 << self.in_type.bits) if self.kind == "lut" else REQUANT_SIZES.get(self.kind)
        if size is None and self.requant is not None:
            raise ValueError(f"a {self.kind} stage takes no requant integers, not {self.requant!r}")
        if size is not None and len(self.requant or ()) != size:
            raise ValueError(f"a {self.kind} stage needs {size} requant integers, not {self.requant!r}")
        if not isinstance(self.width, int) or isinstance(self.width, bool) or self.width < 1:
            raise ValueError(f"width must be a positive integer, not {self.width!r}")
        if self.kernel is not None and self.width != 1:
            raise ValueError("a kernel stage's widths are its kernel's (in_simd, out_pe); its width stays 1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.name, "ident": self.ident, "in_type": self.in_type.to_dict(),
            "out_type": self.out_type.to_dict(), "in_beats": self.in_beats, "out_beats": self.out_beats,
            "kernel": self.kernel.to_dict() if self.kernel else None,
            "window": self.window.to_dict() if self.window else None,
            "frame": list(self.frame) if self.frame else None,
            **({"sources": [list(s) for s in self.sources]} if self.sources is not None else {}),
            **({"merge": self.merge.to_dict()} if self.merge is not None else {}),
            **({"requant": list(self.requant)} if self.requant is not None else {}),
            **({"width": self.width} if self.width != 1 else {}),
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
            sources=tuple((int(s), int(p)) for s, p in data["sources"]) if "sources" in data else None,
            merge=MergeSpec.from_dict(data["merge"]) if data.get("merge") else None,
            requant=tuple(int(v) for v in data["requant"]) if data.get("requant") else None,
            width=int(data.get("width", 1)),
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
    def is_chain(self) -> bool:
        return all(s.sources is None for s in self.stages)

    def links(self) -> list[Link]:
        """Every FIFO of the top, in consumer order (a chain: the FIFO behind stage ``i`` is link ``i``)."""
        if self.is_chain:
            return [(i, 0, i + 1, 0) for i in range(len(self.stages) - 1)]
        return [(src, port, dst, index) for dst, stage in enumerate(self.stages)
                for index, (src, port) in enumerate(stage.sources or ()) if src >= 0]

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

    @property
    def in_width(self) -> int:
        """Values per ``s_axis`` beat (the first stage's input width)."""
        return self.stages[0].in_width

    @property
    def out_width(self) -> int:
        """Values per ``m_axis`` beat (the last stage's output width)."""
        return self.stages[-1].out_width

    @property
    def in_values(self) -> int:
        """Values of one input vector (the input tensor's size; its last beat may be part-filled)."""
        return math.prod(self.input_shape)

    @property
    def out_values(self) -> int:
        return math.prod(self.output_shape)

    def to_dict(self) -> dict[str, Any]:
        return {"top": self.top, "input_tensor": self.input_tensor, "output_tensor": self.output_tensor,
                "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
                "stages": [s.to_dict() for s in self.stages]}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "NetworkPlan":
        return NetworkPlan(data["top"], data["input_tensor"], data["output_tensor"], tuple(data["input_shape"]),
                           tuple(data["output_shape"]), tuple(StagePlan.from_dict(s) for s in data["stages"]))
