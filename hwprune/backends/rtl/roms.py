"""Memory images of a kernel: the packed weight/metadata ROM and the per-output parameter ROM.

The same integers end up in the generated Verilog (as memory initialisers) and in ``.hex`` files
beside it (``$readmemh`` format, one word per line) so a vendor flow or a user can inspect and
swap weights without regenerating RTL. Word layouts are documented here once; the engine
(``engine.py``) only slices them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["EngineShape", "weight_rom", "param_rom", "write_hex"]


@dataclass(frozen=True)
class EngineShape:
    """Widths and counts of one dot-product engine, all derived from a ``KernelSpec``."""

    in_features: int
    group_size: int
    kept: int
    groups: int
    lanes: int
    macs: int
    out_features: int
    weight_bits: int
    offset_bits: int
    in_bits: int
    in_signed: bool
    out_bits: int
    out_signed: bool
    relu: bool
    acc_bits: int
    mult_bits: int
    shift_bits: int
    conv_groups: int = 1
    in_simd: int = 1
    out_pe: int = 1

    @property
    def group_outputs(self) -> int:
        """Rows one engine vector produces: a conv group's filters (all rows when ungrouped)."""
        return self.out_features // self.conv_groups

    @property
    def group_passes(self) -> int:
        return -(-self.group_outputs // self.lanes)

    @property
    def rounds(self) -> int:
        """Groups each MAC unit reads in turn (``groups / macs``)."""
        return self.groups // self.macs

    @property
    def cycles_per_pass(self) -> int:
        return self.rounds * self.kept

    @property
    def passes(self) -> int:
        """Passes of every group together: the weight ROM holds them group by group."""
        return self.conv_groups * self.group_passes

    @property
    def rom_depth(self) -> int:
        return self.passes * self.cycles_per_pass

    @property
    def slot_bits(self) -> int:
        """Bits of one (weight, offset) slot of the weight ROM word."""
        return self.weight_bits + self.offset_bits

    @property
    def rom_width(self) -> int:
        return self.lanes * self.macs * self.slot_bits

    @property
    def param_width(self) -> int:
        """Bits of one row's parameters (a parameter ROM word holds ``out_pe`` rows)."""
        return self.acc_bits + self.mult_bits + self.shift_bits


    @staticmethod
    def of(spec: KernelSpec) -> "EngineShape":
        layout = spec.layout
        mult_bits = max(int(m).bit_length() for m in spec.requant_mult) + 1
        shift_bits = max(1, max(int(s) - 1 for s in spec.requant_shift).bit_length())
        if min(spec.requant_shift) < 1:
            raise ValueError(f"kernel {spec.name!r}: requant shifts must be >= 1")
        if min(spec.requant_mult) < 0:
            raise ValueError(f"kernel {spec.name!r}: requant multipliers must be >= 0")
        return EngineShape(
            in_features=layout.in_features, group_size=layout.group_size, kept=layout.kept_per_group,
            groups=layout.groups, lanes=spec.lanes, macs=spec.macs_per_lane, out_features=spec.out_features,
            weight_bits=spec.weight_bits, offset_bits=layout.offset_bits, in_bits=spec.in_type.bits,
            in_signed=spec.in_type.signed, out_bits=spec.out_type.bits, out_signed=spec.out_type.signed,
            relu=spec.relu, acc_bits=spec.acc_bits, mult_bits=mult_bits, shift_bits=shift_bits,
            conv_groups=spec.groups, in_simd=spec.in_simd, out_pe=spec.out_pe,
        )


def _field(value: int, bits: int) -> int:
    """Two's complement of ``value`` in ``bits`` bits (0 bits → 0); raises if it does not fit."""
    if bits == 0:
        return 0
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        raise ValueError(f"{value} does not fit {bits} bits")
    return value & ((1 << bits) - 1)


def weight_rom(spec: KernelSpec) -> list[int]:
    """Weight ROM, one word per compute step ``a = pass · cycles_per_pass + round · kept + j``.

    Slot ``(lane, mac)`` sits at bit ``(lane · macs + mac) · slot_bits``: the weight (two's
    complement, ``weight_bits``) in the low bits, the within-group offset (``offset_bits``, absent
    for dense layers, whose offset is ``j`` itself) above it. Rows past ``out_features`` in the last
    pass hold zeros. Step ``a`` of lane ``l`` / MAC ``u`` reads row ``pass·lanes + l``, group
    ``u + macs·round``, kept weight ``j``. A grouped conv's passes come group by group: pass ``p`` is
    local pass ``p mod gp`` of conv group ``p div gp`` (``gp`` = its passes), rows past the group's
    filters hold zeros.
    """
    shape = EngineShape.of(spec)
    values, offsets = spec.weights.values, spec.weights.offsets
    words = []
    for p in range(shape.passes):
        first, local = p // shape.group_passes * shape.group_outputs, p % shape.group_passes
        for q in range(shape.rounds):
            for j in range(shape.kept):
                word = 0
                for lane in range(shape.lanes):
                    if local * shape.lanes + lane >= shape.group_outputs:
                        continue
                    row = first + local * shape.lanes + lane
                    for mac in range(shape.macs):
                        group = mac + shape.macs * q
                        slot = _field(int(values[row, group, j]), shape.weight_bits)
                        slot |= _field(int(offsets[row, group, j]), shape.offset_bits) << shape.weight_bits
                        word |= slot << ((lane * shape.macs + mac) * shape.slot_bits)
                words.append(word)
    return words


def param_rom(spec: KernelSpec) -> list[int]:
    """Per-output parameters ``{shift - 1, M, bias}`` (bias in the low ``acc_bits``) of one row; a word
    holds the ``out_pe`` rows of one output beat, row ``b·out_pe + j`` at bit ``j · param_width`` (rows
    past ``out_features`` zero)."""
    shape = EngineShape.of(spec)
    rows = []
    for bias, mult, shift in zip(spec.bias, spec.requant_mult, spec.requant_shift):
        row = _field(int(bias), shape.acc_bits)
        row |= _field(int(mult), shape.mult_bits) << shape.acc_bits
        row |= _field(int(shift) - 1, shape.shift_bits) << (shape.acc_bits + shape.mult_bits)
        rows.append(row)
    pe = shape.out_pe
    return [sum(row << (j * shape.param_width) for j, row in enumerate(rows[b * pe:(b + 1) * pe]))
            for b in range(spec.out_beats)]


def write_hex(path: Path, words: list[int], width: int, header: str) -> None:
    """``$readmemh`` file: ``//`` header lines, then one zero-padded hex word per line."""
    digits = max(1, -(-width // 4))
    lines = [f"// {line}" for line in header.splitlines()]
    lines += [f"{w:0{digits}x}" for w in words]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
