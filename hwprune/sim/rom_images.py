"""Are a kernel's ROM images (``rtl/<ident>_{weights,params}.hex``) the ROMs its Verilog holds?

Why: the generated Verilog carries its weight and parameter ROMs as memory initialisers, which is
what Verilator simulates (and what the design cache keys on); the ``.hex`` files beside it are copies
for vendor flows and readers. A ``.hex`` edited by hand, or left from another build, is never
simulated, so ``hwprune sim`` would pass a design whose delivered ROM image differs from the one it
verified. ``hwprune sim`` fails such a layer with the first differing word and bit.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ROMS", "read_hex", "verilog_rom", "rom_difference"]

ROMS = {"weights": "weight ROM", "params": "parameter ROM"}
"""``<ident>_<key>.hex`` -> what it is; the key is also the memory's name in the kernel's Verilog
(``m.submodules.weights``/``params`` of ``hwprune.backends.rtl.engine``)."""

_LITERAL = re.compile(r"(\d+)'([hdb])([0-9a-fA-F_]+)")


def read_hex(path: Path) -> list[int]:
    """The words of a ``$readmemh`` file (``//`` comment lines skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [int(line.split("//")[0].strip(), 16) for line in lines if line.split("//")[0].strip()]


def verilog_rom(verilog: str, memory: str) -> list[int] | None:
    """The initial words of memory ``memory`` in a Verilog text (``memory[i] = W'hX;`` lines), or None
    when it has none (a netlist without that memory: nothing to compare)."""
    pattern = re.compile(rf"^\s*{re.escape(memory)}\[(\d+)\]\s*=\s*([^;]+);", re.MULTILINE)
    words: dict[int, int] = {}
    for index, literal in pattern.findall(verilog):
        match = _LITERAL.fullmatch(literal.strip())
        if match is None:
            return None
        _, base, digits = match.groups()
        words[int(index)] = int(digits.replace("_", ""), {"h": 16, "d": 10, "b": 2}[base])
    if not words:
        return None
    return [words.get(i, 0) for i in range(max(words) + 1)]


def rom_difference(rtl_dir: Path, ident: str, verilog_name: str) -> str | None:
    """The first word in which one of ``ident``'s ``.hex`` images differs from the ROM in
    ``rtl_dir/verilog_name`` (its lowest differing bit too), or None when they agree (or either is
    missing). The Verilog may hold zero pad words past the image (a ROM is at least two words deep)."""
    source = rtl_dir / verilog_name
    if not source.is_file():
        return None
    verilog = source.read_text(encoding="utf-8")
    for key, what in ROMS.items():
        path = rtl_dir / f"{ident}_{key}.hex"
        held = verilog_rom(verilog, key)
        if held is None or not path.is_file():
            continue
        image = read_hex(path)
        padded = image + [0] * (len(held) - len(image))
        if len(image) > len(held) or padded != held:
            word = next((i for i, (a, b) in enumerate(zip(padded, held)) if a != b), min(len(image), len(held)))
            got, want = (padded[word] if word < len(padded) else None), (held[word] if word < len(held) else None)
            bit = f" bit {((got ^ want) & -(got ^ want)).bit_length() - 1}" if None not in (got, want) else ""
            return (f"rtl/{path.name} word {word}{bit}: the image holds {_hex(got)}, the {what} in "
                    f"rtl/{verilog_name} {_hex(want)}; the simulation uses the Verilog's ROM, never the .hex "
                    "(regenerate both with `hwprune compile`, or change the Verilog too)")
    return None


def _hex(word: int | None) -> str:
    return "no word" if word is None else f"0x{word:x}"
