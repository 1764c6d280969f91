"""Template contexts for the HLS writer: KernelSpecs → plain dicts (the network top's stages are
``network.py`` and ``stages.py``).

Everything the Jinja templates print is decided here (types, widths, array contents), so the
templates stay declarative and the numbers are checked once, in Python, with messages that name the
layer. Arrays are laid out exactly as ``hls/include/hwprune/balanced.h``
reads them (rows padded to ``passes × lanes``; offsets stored once per pass when the lanes of a pass
share them, i.e. block-punched balanced).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from hwprune.errors import BuildError
from hwprune.ir.types import IntType
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["ctype", "host_ctype", "c_array", "mac_layer", "MAX_PRODUCT_BITS", "KERNEL_KINDS"]

MAX_PRODUCT_BITS = 62
"""acc_bits + mult_bits bound of the requantiser (requant.h keeps acc*M + 2^(sh-1) inside int64)."""


def ctype(t: IntType) -> str:
    """The ap_int type of an IR integer type."""
    if t.bits > 63:
        raise BuildError(f"{t} is wider than the 63 bits the HLS kernels support")
    return f"ap_int<{t.bits}>" if t.signed else f"ap_uint<{t.bits}>"


def host_ctype(bits: int, signed: bool) -> str:
    """The smallest plain C integer type holding an ap_int of ``bits`` bits (C-sim ROM storage)."""
    for width, name in ((8, "char"), (16, "short"), (32, "int"), (64, "long long")):
        if bits <= width:
            return f"{'signed' if signed else 'unsigned'} {name}" if name == "char" else (
                name if signed else f"unsigned {name}")
    raise BuildError(f"{bits}-bit constants are wider than the kernels support")


def _check_range(where: str, what: str, values: np.ndarray, bits: int, signed: bool) -> None:
    """Every constant must fit its ap_int type, so host-typed and ap_int-typed ROMs hold equal values."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    values = np.asarray(values, dtype=np.int64)
    if values.size and (int(values.min()) < lo or int(values.max()) > hi):
        raise BuildError(f"{where}: {what} values {int(values.min())}..{int(values.max())} do not fit "
                         f"{'' if signed else 'u'}int{bits}")


def _literal(value: int) -> str:
    return f"{value}LL" if not -(2**31) <= value < 2**31 else str(value)


def c_array(array: np.ndarray, indent: str = "    ") -> str:
    """A C brace initialiser of an integer array: one outermost element per line, deterministic."""
    array = np.asarray(array, dtype=np.int64)

    def inner(a: np.ndarray) -> str:
        if a.ndim == 1:
            return "{" + ", ".join(_literal(int(v)) for v in a) + "}"
        return "{" + ", ".join(inner(sub) for sub in a) + "}"

    if array.ndim == 1:
        return inner(array)
    lines = [f"{indent}{inner(sub)}" for sub in array]
    return "{\n" + ",\n".join(lines) + "\n}"


def _offsets(spec: KernelSpec, rows: int) -> tuple[np.ndarray, bool]:
    """(offset array as the kernel reads it, whether the lanes of each pass share one list)."""
    layout, lanes = spec.layout, spec.lanes
    offsets = np.asarray(spec.weights.offsets, dtype=np.int64)
    if layout.kept_per_group == layout.group_size:  # keep all: positions are implicit
        return np.zeros((1, 1, 1), dtype=np.int64), False
    slots = np.asarray(spec.row_slots)
    blocks = [offsets[(slots >= p * lanes) & (slots < (p + 1) * lanes)] for p in range(spec.passes)]
    shared = lanes > 1 and all(bool((block == block[0]).all()) for block in blocks)
    if shared:
        return np.stack([block[0] for block in blocks]), True
    return _by_slot(spec, offsets, rows, 0), False


def _by_slot(spec: KernelSpec, per_row: np.ndarray, rows: int, pad: int) -> np.ndarray:
    """Per-row data laid out in the engine's ``rows`` slots (``KernelSpec.row_slots``: a grouped conv's
    groups each start a pass), padding slots filled with ``pad``."""
    per_row = np.asarray(per_row, dtype=np.int64)
    out = np.full((rows, *per_row.shape[1:]), pad, dtype=np.int64)
    out[np.asarray(spec.row_slots, dtype=np.int64)] = per_row
    return out


def _dense_kind(spec: KernelSpec, where: str, config: dict[str, Any]) -> tuple[str, int, int]:
    config["flatten_channels"] = 1  # network.network_stages sets C when a Flatten of a C x H x W map precedes
    return "dense", spec.in_features, spec.out_features


def _conv_kind(spec: KernelSpec, where: str, config: dict[str, Any]) -> tuple[str, int, int]:
    g = spec.conv
    assert g is not None
    config.update(
        in_channels=g.in_channels, in_height=g.in_height, in_width=g.in_width, kernel_h=g.kernel[0],
        kernel_w=g.kernel[1], stride_h=g.strides[0], stride_w=g.strides[1], pad_top=g.pads[0],
        pad_left=g.pads[1], dilation_h=g.dilations[0], dilation_w=g.dilations[1], out_height=g.out_height,
        out_width=g.out_width,
    )
    function = "conv2d"
    if g.group != 1:  # group-serial (hls/include/hwprune/grouped_conv.h)
        function = "grouped_conv2d"
        config.update(conv_groups=g.group, group_channels=g.in_channels // g.group,
                      group_outputs=spec.group_outputs, group_passes=spec.group_passes)
    return function, g.in_channels * g.in_height * g.in_width, spec.out_features * g.out_height * g.out_width


KindConfig = Callable[[KernelSpec, str, "dict[str, Any]"], "tuple[str, int, int]"]
KERNEL_KINDS: dict[str, KindConfig] = {"dense": _dense_kind, "conv": _conv_kind}
"""The HLS kernel-writer table: KernelSpec kind -> what that kind adds to the layer's config struct,
returning (library function of ``hls/include/hwprune``, input count, output count). A new kernel kind
adds its entry here beside its header function (docs/architecture.md, "Adding a backend kernel")."""


def mac_layer(spec: KernelSpec) -> dict[str, Any]:
    """Config + arrays of one Dense/Conv KernelSpec (the ``*_config`` struct and its weights)."""
    where = f"layer {spec.name!r}"
    layout = spec.layout
    rows = spec.passes * spec.lanes
    if spec.weights.values.shape != (spec.out_features, layout.groups, layout.kept_per_group):
        raise BuildError(f"{where}: packed values have shape {list(spec.weights.values.shape)}, not "
                         f"[{spec.out_features}, {layout.groups}, {layout.kept_per_group}]")
    shifts = [int(s) for s in spec.requant_shift]
    if any(not 1 <= s <= 62 for s in shifts):
        raise BuildError(f"{where}: requantiser shifts must lie in 1..62, got {min(shifts)}..{max(shifts)}")
    mults = [int(m) for m in spec.requant_mult]
    mult_bits = max(2, max(abs(m) for m in mults).bit_length() + 1)
    if spec.acc_bits + mult_bits > MAX_PRODUCT_BITS:
        raise BuildError(f"{where}: acc_bits {spec.acc_bits} + multiplier bits {mult_bits} exceed "
                         f"{MAX_PRODUCT_BITS}; the requantiser product would not fit int64 exactly")
    values = _by_slot(spec, spec.weights.values, rows, 0)
    offsets, shared = _offsets(spec, rows)
    dense = layout.kept_per_group == layout.group_size
    shift_bits = max(shifts).bit_length()
    offset_bits = max(1, layout.offset_bits)
    _check_range(where, "weight", values, spec.weight_bits, True)
    _check_range(where, "offset", offsets, offset_bits, False)
    _check_range(where, "bias", np.array(spec.bias), spec.acc_bits, True)
    config: dict[str, Any] = {
        "in_features": spec.in_features, "out_features": spec.out_features, "lanes": spec.lanes,
        "macs": spec.macs_per_lane, "groups": layout.groups, "group_size": layout.group_size,
        "kept": layout.kept_per_group, "passes": spec.passes, "offset_rows": offsets.shape[0],
        "offset_groups": offsets.shape[1], "offset_kept": offsets.shape[2],
    }
    kind = KERNEL_KINDS.get(spec.kind)
    if kind is None:
        raise BuildError(f"{where}: kernel kind {spec.kind!r} has no HLS kernel; known: {', '.join(KERNEL_KINDS)}")
    function, in_count, out_count = kind(spec, where, config)
    return {
        "ident": spec.ident, "name": spec.name, "kind": spec.kind, "pattern": spec.pattern,
        "pattern_params": ", ".join(f"{k}={v}" for k, v in sorted(spec.pattern_params.items())),
        "function": function,
        "types": {
            "in_t": ctype(spec.in_type), "out_t": ctype(spec.out_type),
            "weight_t": ctype(IntType(spec.weight_bits, True)), "acc_t": f"ap_int<{spec.acc_bits}>",
            "mult_t": f"ap_int<{mult_bits}>", "shift_t": f"ap_uint<{shift_bits}>",
            "offset_t": f"ap_uint<{offset_bits}>",
        },
        "host_types": {
            "weight_t": host_ctype(spec.weight_bits, True), "offset_t": host_ctype(offset_bits, False),
            "acc_t": host_ctype(spec.acc_bits, True), "mult_t": host_ctype(mult_bits, True),
            "shift_t": host_ctype(shift_bits, False),
        },
        "config": config,
        "flags": {"relu": spec.relu, "dense": dense, "shared_offsets": shared},
        "arrays": {
            "weights": c_array(values), "offsets": c_array(offsets),
            "bias": c_array(_by_slot(spec, np.array(spec.bias), rows, 0)),
            "mult": c_array(_by_slot(spec, np.array(mults), rows, 0)),
            "shift": c_array(_by_slot(spec, np.array(shifts), rows, 1)),
        },
        "dims": {
            "weights": f"[{rows}][{layout.groups}][{layout.kept_per_group}]",
            "offsets": "[{}][{}][{}]".format(*offsets.shape), "rows": f"[{rows}]",
        },
        "in_count": in_count, "out_count": out_count,
        "macs_per_vector": spec.useful_macs, "cycles_per_vector": spec.compute_cycles,
    }
