"""Golden vectors for kernel tests: random balanced layers, stimulus with edge cases, and the
expected outputs — always computed by the integer reference (``hwprune.quant.reference``), never by
a second implementation, so RTL, HLS and the cycle model are all checked against one golden model.
"""

from __future__ import annotations

import math

import numpy as np

from hwprune.ir.graph import Graph, Node, Tensor
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import ConvGeometry, KernelSpec
from hwprune.prune.patterns.base import GroupLayout, pack_balanced
from hwprune.quant.reference import run_integer
from hwprune.quant.requant import requant_params

__all__ = ["spec_graph", "kernel_reference", "stimulus", "random_balanced_mask", "random_spec"]


def spec_graph(spec: KernelSpec) -> Graph:
    """A one-layer quantized IR graph equivalent to ``spec`` (input fed as integers by name)."""
    dense, _ = spec.weights.unpack()
    if spec.kind == "conv":
        g = spec.conv
        assert g is not None
        weight = dense.reshape(spec.out_features, g.in_channels // g.group, *g.kernel)
        in_shape = [1, g.in_channels, g.in_height, g.in_width]
        out_shape = [1, spec.out_features, g.out_height, g.out_width]
        attrs = {"strides": list(g.strides), "pads": list(g.pads), "dilations": list(g.dilations),
                 "group": g.group}
    else:
        weight = dense
        in_shape, out_shape, attrs = [1, spec.in_features], [1, spec.out_features], {}
    attrs.update(activation="relu" if spec.relu else "none", requant_mult=list(spec.requant_mult),
                 requant_shift=list(spec.requant_shift), acc_bits=spec.acc_bits)
    tensors = [
        Tensor("x", in_shape, spec.in_type, scale=[1.0]),
        Tensor("w", list(weight.shape), IntType(spec.weight_bits, True), data=weight.astype(np.int64),
               scale=[1.0] * spec.out_features, scale_axis=0),
        Tensor("b", [spec.out_features], IntType(32, True), data=np.asarray(spec.bias, dtype=np.int64),
               scale=[1.0] * spec.out_features, scale_axis=0),
        Tensor("y", out_shape, spec.out_type, scale=[1.0]),
    ]
    op = "Conv" if spec.kind == "conv" else "Dense"
    node = Node(spec.name, op, ["x", "w", "b"], ["y"], attrs)
    graph = Graph(spec.ident, ["x"], ["y"], {t.name: t for t in tensors}, [node])
    graph.verify()
    return graph


def kernel_reference(spec: KernelSpec, x: np.ndarray) -> np.ndarray:
    """Expected integer outputs for a batch of integer inputs ([N, K] dense, [N, C, H, W] conv)."""
    graph = spec_graph(spec)
    return run_integer(graph, {"x": np.asarray(x, dtype=np.int64)})["y"]


def stimulus(spec: KernelSpec, count: int, seed: int) -> np.ndarray:
    """``count`` random input vectors plus the edge cases: all zero, all max, all min, alternating."""
    rng = np.random.default_rng(seed)
    t = spec.in_type
    shape = [spec.in_features] if spec.kind == "dense" else [spec.conv.in_channels, spec.conv.in_height,  # type: ignore[union-attr]
                                                               spec.conv.in_width]  # type: ignore[union-attr]
    edges = [np.zeros(shape), np.full(shape, t.max), np.full(shape, t.min)]
    alternating = np.where(np.arange(math.prod(shape)).reshape(shape) % 2 == 0, t.max, t.min)
    edges.append(alternating)
    random = rng.integers(t.min, t.max + 1, size=[count, *shape])
    return np.concatenate([np.stack(edges), random]).astype(np.int64)


def random_balanced_mask(rows: int, layout: GroupLayout, rng: np.random.Generator) -> np.ndarray:
    """A mask keeping ``kept_per_group`` random real positions in every group of every row (all of a short
    last group's, when it has fewer real inputs: the pattern rule, see ``GroupLayout``)."""
    mask = np.zeros((rows, layout.padded_features), dtype=bool)
    for r in range(rows):
        for g in range(layout.groups):
            real = min(layout.group_size, layout.in_features - g * layout.group_size)
            keep = rng.choice(real, size=min(real, layout.kept_per_group), replace=False)
            mask[r, g * layout.group_size + keep] = True
    return mask[:, : layout.in_features]


def random_spec(
    *, kind: str = "dense", out_features: int, layout: GroupLayout, lanes: int, macs_per_lane: int, seed: int,
    relu: bool = True, conv: ConvGeometry | None = None, pattern: str = "random-balanced", weight_bits: int = 8,
    in_type: IntType = IntType(8, False), out_bits: int = 8, single_kept_value: bool = False,
) -> KernelSpec:
    """A random but realistic balanced layer: weights, bias and a requantiser that uses the range."""
    rng = np.random.default_rng(seed)
    wmax = (1 << (weight_bits - 1)) - 1
    weights = rng.integers(-wmax, wmax + 1, size=(out_features, layout.in_features))
    if single_kept_value:
        weights[:] = wmax
    mask = random_balanced_mask(out_features, layout, rng)
    packed = pack_balanced(np.where(mask, weights, 0), mask, layout)
    act_max = max(abs(in_type.min), in_type.max)
    kept = layout.kept_per_row
    typical = max(1.0, math.sqrt(kept) * wmax * act_max / 2)
    out_type = IntType(out_bits, not relu)
    mults, shifts = zip(*(requant_params(out_type.max / typical * rng.uniform(0.5, 2.0)) for _ in range(out_features)))
    bias = rng.integers(-int(typical), int(typical) + 1, size=out_features)
    acc_bits = weight_bits + in_type.bits + math.ceil(math.log2(max(kept, 1))) + 1
    bound = kept * (wmax + 1) * act_max + int(np.abs(bias).max(initial=0))
    acc_bits = max(acc_bits, bound.bit_length() + 1)
    return KernelSpec(
        name=f"{kind}_{seed}", ident=f"{kind}_{seed}", kind=kind, pattern=pattern, out_features=out_features,
        lanes=lanes, macs_per_lane=macs_per_lane, weights=packed, bias=tuple(int(b) for b in bias),
        requant_mult=tuple(int(m) for m in mults), requant_shift=tuple(int(s) for s in shifts), acc_bits=acc_bits,
        weight_bits=weight_bits, in_type=in_type, out_type=out_type, relu=relu, conv=conv,
    )
