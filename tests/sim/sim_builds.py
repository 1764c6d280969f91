"""Helpers of the ``hwprune sim`` tests (the build itself is ``conftest.mlp_digits_build``)."""

from __future__ import annotations

from pathlib import Path


def copy_build(build: Path, name: str) -> Path:
    """A fresh copy of ``build`` beside it, without Verilator objects (each test's replay is its own)."""
    import shutil

    target = build.parent / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(build, target, ignore=shutil.ignore_patterns("obj"))
    return target


def vcd_handshakes(path: Path, ports: dict) -> tuple[set[str], list[int]]:
    """(names of the scopes, ``data`` of every output beat) of a VCD waveform of a stream design:
    a beat is a rising clock edge with the case's ``ports["out"]`` valid and ready both 1 just before it.

    Why this much: the waveform must show the DUT's own ports doing what the testbench saw, not merely
    exist. Verilator dumps a time step after evaluating it, so the values before a step's changes are
    those the clock edge of that step sampled."""
    out = ports["out"]
    wanted = {ports["clock"]: "clk", out["valid"]: "valid", out["ready"]: "ready", out["data"]: "data"}
    ids: dict[str, str] = {}
    scopes: set[str] = set()
    stack: list[str] = []
    values: dict[str, int | None] = {}
    beats: list[int] = []
    block: list[tuple[str, int | None]] = []

    def step() -> None:
        if ("clk", 1) in block and values.get("valid") == 1 and values.get("ready") == 1:
            beats.append(int(values["data"] or 0))
        values.update(block)
        block.clear()

    with open(path, encoding="ascii") as stream:
        for line in stream:
            words = line.split()
            if words[:1] == ["$scope"]:
                stack.append(words[2])
                scopes.add(words[2])
            elif words[:1] == ["$upscope"]:
                stack.pop()
            elif words[:1] == ["$var"] and stack == ["$rootio"] and words[4] in wanted:
                ids[words[3]] = wanted[words[4]]
            elif words[:1] == ["$enddefinitions"]:
                break
        else:
            raise AssertionError(f"{path}: no $enddefinitions (not a VCD file)")
        assert sorted(ids.values()) == sorted(wanted.values()), f"{path}: ports found {ids}"
        for line in stream:
            if line.startswith("#"):
                step()
            elif line[0] in "01xz" and line[1:].strip() in ids:
                block.append((ids[line[1:].strip()], int(line[0]) if line[0] in "01" else None))
            elif line.startswith("b"):
                bits, code = line[1:].split()
                if code in ids:
                    block.append((ids[code], None if set(bits) & set("xz") else int(bits, 2)))
        step()
    return scopes, beats


FST_HEADER_LENGTH = 329
"""An FST file opens with its header block: type 0, then this section length (8 bytes, big-endian)."""


def check_fst_header(path: Path) -> None:
    """The FST header block and its endianness test value (e, as a little-endian double at byte 25)."""
    import math
    import struct

    head = path.read_bytes()[:33]
    assert head[0] == 0 and int.from_bytes(head[1:9], "big") == FST_HEADER_LENGTH, f"{path}: not an FST file"
    assert math.isclose(struct.unpack("<d", head[25:33])[0], math.e), f"{path}: FST header endian test"
