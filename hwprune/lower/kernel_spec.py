"""``KernelSpec``: everything a backend needs to build one layer, and nothing from the frontend.

Both the RTL (Amaranth) and the HLS (C++) backends read this one object, so they cannot drift:
shapes, the balanced group layout and packed weights, the lane/MAC parallelism chosen by lowering,
the accumulator width and the requantiser's integers (docs/architecture.md sections 3-5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hwprune.ir.graph import _array_from_dict, _array_to_dict
from hwprune.ir.types import IntType
from hwprune.prune.patterns.base import GroupLayout, PackedWeights

__all__ = ["ConvGeometry", "KernelSpec", "stream_width_problem"]


@dataclass(frozen=True)
class ConvGeometry:
    """Sliding-window geometry of a conv layer (NCHW, batch 1). ``pads`` = (top, left, bottom, right)."""

    in_channels: int
    in_height: int
    in_width: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    group: int
    out_height: int
    out_width: int

    @property
    def window(self) -> int:
        """Inputs of one output pixel of one filter: C/g · kh · kw (the K of the weight matrix)."""
        return self.in_channels // self.group * self.kernel[0] * self.kernel[1]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "ConvGeometry":
        return ConvGeometry(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class KernelSpec:
    """One lowered layer.

    Compute schedule (the headline of docs/architecture.md section 4): ``lanes`` outputs (rows) are computed in
    parallel; each lane has ``macs_per_lane`` MAC units, unit ``u`` reading groups ``u, u+P, …``;
    every group contributes exactly ``kept_per_group`` MACs. So one output vector takes
    ``passes × cycles_per_pass`` compute cycles, and no MAC slot is ever spent on a pruned weight.
    """

    name: str
    ident: str
    kind: str
    pattern: str
    out_features: int
    lanes: int
    macs_per_lane: int
    weights: PackedWeights
    bias: tuple[int, ...]
    requant_mult: tuple[int, ...]
    requant_shift: tuple[int, ...]
    acc_bits: int
    weight_bits: int
    in_type: IntType
    out_type: IntType
    relu: bool
    conv: ConvGeometry | None = None
    pattern_params: dict[str, Any] = field(default_factory=dict)
    in_simd: int = 1
    """Activations per engine input beat (a wide stream: element ``j`` of a beat in bits ``[j·b, (j+1)·b)``).
    A conv kernel's engine beat comes from its window generator: 1, ``kh·kw`` (one channel's whole
    window) or a fold of fewer consecutive window elements dividing ``K``; its input frame arrives one
    element per beat whatever it is (``in_port_width``)."""
    out_pe: int = 1
    """Outputs per output beat (``out_pe`` requantisers side by side). A conv kernel's output is a frame:
    ``out_pe`` consecutive filters of one pixel per beat (it divides the filters, groups 1)."""
    frame_simd: int = 1
    """Channels per beat of a conv kernel's input frame (a wide frame: channels ``c … c + m - 1`` of one
    pixel per beat); with ``m > 1`` the window generator gives the whole windows of the ``m`` channels of
    a row-buffer word per engine beat (``in_simd = m·kh·kw``). Always 1 on a dense kernel."""

    def __post_init__(self) -> None:
        if self.kind not in ("dense", "conv"):
            raise ValueError(f"kind must be 'dense' or 'conv', not {self.kind!r}")
        if (self.kind == "conv") != (self.conv is not None):
            raise ValueError("a conv kernel needs its geometry, a dense kernel has none")
        if self.groups > 1:
            if self.out_features % self.groups or self.conv.in_channels % self.groups:  # type: ignore[union-attr]
                raise ValueError(f"group {self.groups} must divide the {self.out_features} filters and the "
                                 f"{self.conv.in_channels} input channels")  # type: ignore[union-attr]
            if isinstance(self.lanes, int) and self.lanes > self.group_outputs:
                # lanes only ever compute one group's filters at once (group-serial schedule): more
                # lanes than a group has filters would be idle hardware, so they are not built
                object.__setattr__(self, "lanes", self.group_outputs)
        for name in ("lanes", "macs_per_lane"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if self.layout.groups % self.macs_per_lane:
            raise ValueError(f"macs_per_lane {self.macs_per_lane} must divide the {self.layout.groups} groups")
        for name in ("bias", "requant_mult", "requant_shift"):
            if len(getattr(self, name)) != self.out_features:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, not {self.out_features}")
        problem = stream_width_problem(self, self.in_simd, self.out_pe, self.frame_simd)
        if problem:
            raise ValueError(f"kernel {self.name!r}: {problem}")

    @property
    def layout(self) -> GroupLayout:
        return self.weights.layout

    @property
    def in_features(self) -> int:
        return self.layout.in_features

    @property
    def groups(self) -> int:
        """Convolution groups (1 for dense and ordinary conv): the engine runs them one after another."""
        return self.conv.group if self.conv is not None else 1

    @property
    def group_outputs(self) -> int:
        """Filters of one group: the rows one engine vector (one group's window) produces."""
        return self.out_features // self.groups

    @property
    def group_lanes(self) -> int:
        """Conv groups computed side by side: a depthwise conv whose frame brings ``m`` channels per beat
        runs ``m`` engines (one per channel of the beat, ``hwprune.backends.rtl.group_parallel``), each
        group-serial over every ``m``-th channel; 1 for every other kernel."""
        return self.frame_simd if self.frame_simd > 1 and _depthwise(self) else 1

    @property
    def serial_groups(self) -> int:
        """Groups one engine runs one after another per pixel (``groups / group_lanes``)."""
        return self.groups // self.group_lanes

    @property
    def engine_out_pe(self) -> int:
        """Outputs per output beat of one engine (``out_pe``, or 1 for engines side by side)."""
        return self.out_pe // self.group_lanes

    @property
    def multipliers(self) -> int:
        """MAC units of the kernel: lanes × MACs per lane × engines side by side."""
        return self.lanes * self.macs_per_lane * self.group_lanes

    @property
    def group_passes(self) -> int:
        """Rounds over the lanes for one group's filters."""
        return math.ceil(self.group_outputs / self.lanes)

    @property
    def passes(self) -> int:
        """Rounds over the lanes needed for all outputs of one input vector (every group's, in turn)."""
        if self.groups == 1:
            return math.ceil(self.out_features / self.lanes)
        return self.groups * self.group_passes

    @property
    def cycles_per_pass(self) -> int:
        """Compute cycles of one pass: kept weights per output / MACs per lane (exact by layout)."""
        return self.layout.groups // self.macs_per_lane * self.layout.kept_per_group

    @property
    def row_slots(self) -> list[int]:
        """Row ``r``'s slot in the engine's pass-major order (``passes × lanes`` slots): group ``i``'s
        filters start at pass ``i · group_passes``, so a group never shares a pass with another."""
        per, width = self.group_outputs, self.group_passes * self.lanes
        return [r // per * width + r % per for r in range(self.out_features)]

    @property
    def in_port_width(self) -> int:
        """Elements per beat of the kernel's input stream: ``in_simd`` for a dense kernel, ``frame_simd``
        for a conv kernel (its frame; the window generator widens it to ``in_simd`` inside)."""
        return self.in_simd if self.conv is None else self.frame_simd

    @property
    def in_beats(self) -> int:
        """Input beats of one vector: ``ceil(K / in_simd)`` (the last beat's spare elements are zero)."""
        return -(-self.in_features // self.in_simd)

    @property
    def out_beats(self) -> int:
        """Output beats of one vector: every pass's rows in beats of ``out_pe`` (``out_pe`` divides the
        lanes, so only the last pass can end in a part-filled beat, its spare elements zero)."""
        return -(-self.out_features // self.out_pe)

    @property
    def compute_cycles(self) -> int:
        """Compute cycles of one input vector (one output pixel for conv), pipeline depth excluded; engines
        side by side (``group_lanes``) share a pixel's passes."""
        return self.passes // self.group_lanes * self.cycles_per_pass

    @property
    def useful_macs(self) -> int:
        """MACs on kept weights of real inputs for one input vector (a short last group's padded slots
        take MAC cycles but do no useful work, so PE utilisation does not count them)."""
        return self.out_features * self.layout.real_kept_per_row

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ident": self.ident,
            "kind": self.kind,
            "pattern": self.pattern,
            "pattern_params": dict(sorted(self.pattern_params.items())),
            "out_features": self.out_features,
            "lanes": self.lanes,
            "macs_per_lane": self.macs_per_lane,
            "layout": self.layout.to_dict(),
            "values": _array_to_dict(self.weights.values.astype(np.int64)),
            "offsets": _array_to_dict(self.weights.offsets.astype(np.int64)),
            "bias": list(self.bias),
            "requant_mult": list(self.requant_mult),
            "requant_shift": list(self.requant_shift),
            "acc_bits": self.acc_bits,
            "weight_bits": self.weight_bits,
            "in_type": self.in_type.to_dict(),
            "out_type": self.out_type.to_dict(),
            "relu": self.relu,
            "conv": self.conv.to_dict() if self.conv else None,
            # written only when wide, so a one-element stream's kernels.json is the same as before
            **({"in_simd": self.in_simd} if self.in_simd != 1 else {}),
            **({"out_pe": self.out_pe} if self.out_pe != 1 else {}),
            **({"frame_simd": self.frame_simd} if self.frame_simd != 1 else {}),
            "cycles": {"passes": self.passes, "cycles_per_pass": self.cycles_per_pass,
                       "compute_cycles": self.compute_cycles},
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "KernelSpec":
        layout = GroupLayout.from_dict(data["layout"])
        weights = PackedWeights(layout, _array_from_dict(data["values"]), _array_from_dict(data["offsets"]))
        return KernelSpec(
            name=data["name"], ident=data["ident"], kind=data["kind"], pattern=data["pattern"],
            out_features=int(data["out_features"]), lanes=int(data["lanes"]),
            macs_per_lane=int(data["macs_per_lane"]), weights=weights, bias=tuple(data["bias"]),
            requant_mult=tuple(data["requant_mult"]), requant_shift=tuple(data["requant_shift"]),
            acc_bits=int(data["acc_bits"]), weight_bits=int(data["weight_bits"]),
            in_type=IntType(data["in_type"]["bits"], data["in_type"]["signed"]),
            out_type=IntType(data["out_type"]["bits"], data["out_type"]["signed"]), relu=bool(data["relu"]),
            conv=ConvGeometry.from_dict(data["conv"]) if data["conv"] else None,
            pattern_params=dict(data.get("pattern_params", {})),
            in_simd=int(data.get("in_simd", 1)), out_pe=int(data.get("out_pe", 1)),
            frame_simd=int(data.get("frame_simd", 1)),
        )


def stream_width_problem(spec: KernelSpec, in_simd: int, out_pe: int, frame_simd: int = 1) -> str | None:
    """Why the engine of ``spec`` cannot take ``in_simd`` activations / give ``out_pe`` outputs per beat
    (and, for a conv, its frame ``frame_simd`` channels per beat; None when it can). Why these rules: a
    beat must fill whole group words of the input banks or a whole share of one (``in_simd`` divides the
    group size ``S``, or ``S`` divides it and the groups of one beat land in distinct banks at one
    address: ``in_simd / S`` divides the MAC units), or be the whole vector of a layout whose last group
    is padded (``S`` does not divide ``K``: a depthwise 3x3 pruned in groups of 8) with a MAC unit per
    group, its groups written at once and the padding zero; and the output beats must not straddle passes
    (``out_pe`` divides the lanes). A conv kernel's generator gives one element, a fold of its window, one
    channel's whole ``kh·kw`` window or (a wide frame of ``m`` channels per beat) the ``m`` channels' whole
    windows per beat; its output frame carries ``out_pe`` whole filters of a pixel per beat."""
    for name, value in (("in_simd", in_simd), ("out_pe", out_pe), ("frame_simd", frame_simd)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return f"{name} must be a positive integer, not {value!r}"
    if in_simd == 1 and out_pe == 1 and frame_simd == 1:
        return None
    if spec.conv is None and frame_simd != 1:
        return "a dense kernel has no input frame (frame_simd 1)"
    if spec.conv is not None:
        window = spec.conv.kernel[0] * spec.conv.kernel[1]
        per_group = spec.conv.in_channels // spec.conv.group
        if frame_simd > 1 and _depthwise(spec):  # m channels' engines side by side (group_lanes)
            if spec.groups % frame_simd:
                return f"frame_simd {frame_simd} must divide the {spec.groups} channels of a depthwise conv"
            if in_simd != frame_simd * window or out_pe != frame_simd:
                return (f"a depthwise conv over {frame_simd} channels at once takes their whole windows and gives "
                        f"their {frame_simd} outputs per beat: in_simd {frame_simd * window}, out_pe {frame_simd}, "
                        f"not {in_simd}, {out_pe}")
            in_simd, out_pe = window, 1  # what each channel's engine takes and gives
        elif out_pe != 1 and (spec.groups != 1 or spec.out_features % out_pe):
            return (f"a conv kernel's output beat is out_pe whole filters of one pixel: out_pe {out_pe} must "
                    f"divide the {spec.out_features} filters of an ungrouped conv")
        if frame_simd > 1 and not _depthwise(spec):
            if per_group % frame_simd:
                return (f"frame_simd {frame_simd} must divide the {per_group} input channels of a conv group")
            if in_simd != frame_simd * window:
                return (f"a wide frame of {frame_simd} channels per beat gives their whole windows per engine "
                        f"beat: in_simd must be {frame_simd * window}, not {in_simd}")
        elif frame_simd == 1 and (in_simd > window or (1 < in_simd < window and spec.in_features % in_simd)):
            return (f"a conv kernel's window beat is one element, one channel's whole window ({window}) or a fold "
                    f"of fewer elements dividing the {spec.in_features} of a vector, not {in_simd}")
    size, macs = spec.layout.group_size, spec.macs_per_lane
    if in_simd > 1:
        if in_simd > size * spec.layout.groups:
            return f"in_simd {in_simd} exceeds the {size * spec.layout.groups} padded inputs"
        whole_vector = in_simd == spec.in_features and spec.in_features % size and macs % spec.layout.groups == 0
        if size % in_simd and (in_simd % size or macs % (in_simd // size)) and not whole_vector:
            return (f"in_simd {in_simd} must divide the group size {size}, be a multiple of it whose groups per "
                    f"beat divide the {macs} MAC units, or be the whole vector of {spec.in_features} inputs "
                    f"with a MAC unit per group ({spec.layout.groups})")
    if out_pe > 1 and spec.lanes % out_pe:
        return f"out_pe {out_pe} must divide the {spec.lanes} lanes"
    return None


def _depthwise(spec: KernelSpec) -> bool:
    """One input channel and one filter per group (the only grouped conv whose groups run side by side)."""
    g = spec.conv
    return g is not None and g.group > 1 and g.in_channels == g.group and spec.out_features == g.group
