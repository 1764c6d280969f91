"""What the bring-up files need to know about one build: the accelerator's top module and Verilog
files (``rtl/manifest.json``), its stream formats and golden vectors (``sim/network.case.json``),
and the board's part, clock, processing system and DMA width (``boards/<board>.yaml``).

Gathered once into ``DesignFacts`` and written as ``board/design.json``, which the generated
driver reads at run time — so the driver template holds no per-design numbers, and a board with
only Python, numpy and PYNQ needs nothing else from hwprune.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwprune.boards import Board
from hwprune.errors import BuildError
from hwprune.lower.names import identifier

__all__ = ["StreamFacts", "DesignFacts", "PS_IP", "BOARD_PARTS", "gather_facts", "network_entry",
           "read_golden", "golden_values"]

PS_IP = {"zynquplus": "zynq_ultra_ps_e", "zynq7": "processing_system7"}
"""The Vivado processing-system IP of each board family that has one (others get no block design)."""

BOARD_PARTS = {
    "zcu102": "xilinx.com:zcu102:part0",
    "zcu104": "xilinx.com:zcu104:part0",
    "kv260": "xilinx.com:kv260_som:part0",
    "ultra96v2": "avnet.com:ultra96v2:part0",
    "pynq-z2": "tul.com.tw:pynq-z2:part0",
}
"""Vivado board-file names (vendor board stores): when installed, the PS gets the board's DDR/MIO preset."""

NETWORK_CASE = "network.case.json"
DMA_NAME = "axi_dma"


@dataclass(frozen=True)
class StreamFacts:
    """One AXI-Stream side of the accelerator: ``values`` per vector of ``bits`` bits, ``width`` per
    ``tdata_bits``-wide beat, each value in its own lane of whole bytes (as AXI-Stream requires); a
    vector's last beat is zero-filled past its values."""

    values: int
    bits: int
    signed: bool
    tdata_bits: int
    width: int = 1

    @property
    def beats(self) -> int:
        return -(-self.values // self.width)

    @property
    def lane_bytes(self) -> int:
        return self.tdata_bits // 8 // self.width


@dataclass(frozen=True)
class DesignFacts:
    """Everything ``board/`` is generated from (and what ``design.json`` holds)."""

    project: str
    source: str
    board: str
    part: str
    family: str
    clock_mhz: float
    ps_ip: str | None
    board_part: str | None
    dma_width_bits: int
    dma_name: str
    top: str
    verilog: list[str]
    ports: dict[str, str]
    input: StreamFacts
    output: StreamFacts
    vectors: int
    bitstream: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tdata_bits(bits: int, declared: Any, values_per_beat: int) -> int:
    """The top's ``tdata`` width: as the manifest declares it, else as the network top derives it from
    the value width (``hwprune.lower.network_types.axis_width``: a lane of whole bytes per value)."""
    from hwprune.lower.network_types import axis_width

    width = int(declared) if declared is not None else values_per_beat * axis_width(bits)
    if width % (8 * values_per_beat) or width // values_per_beat < bits:
        raise BuildError(f"a {width}-bit tdata cannot carry {values_per_beat} {bits}-bit values in lanes of "
                         "whole bytes")
    return width


def _value_type(case: dict[str, Any], side: str) -> tuple[int, bool]:
    """(bits, signed) of one value on a side of the golden case (a wide port's case holds words of
    byte lanes: its value widths are written beside them, ``value_bits``)."""
    if "value_bits" in case:
        return int(case["value_bits"][side]), bool(case["elements"][side][2])
    return int(case[f"{side}_bits"]), bool(case[f"{side}_signed"])


def golden_values(case: dict[str, Any]) -> tuple[Any, Any]:
    """(inputs, expected) of the golden case as [vectors, values] integer arrays."""
    from hwprune.sim.network import case_values

    inputs, expected = case_values(case)
    if expected is None:
        raise BuildError(f"sim/{NETWORK_CASE} has no expected outputs")
    return inputs, expected


def network_entry(rtl_dir: Path) -> dict[str, Any]:
    """The network top's entry of ``rtl/manifest.json`` (top module, Verilog files, ports, widths)."""
    path = rtl_dir / "manifest.json"
    if not path.is_file():
        raise BuildError("rtl/manifest.json is missing: run the emit step first", file=rtl_dir.parent)
    manifest = json.loads(path.read_text(encoding="utf-8"))
    network = manifest.get("network")
    if not isinstance(network, dict) or not network.get("top"):
        why = (network or {}).get("skipped") if isinstance(network, dict) else None
        raise BuildError(f"no network top in rtl/manifest.json ({why or 'nothing to bring up'})",
                         file=rtl_dir.parent)
    return network


def read_golden(sim_dir: Path) -> dict[str, Any]:
    """The network golden case (``sim/network.case.json``): inputs and reference outputs, flat."""
    path = sim_dir / NETWORK_CASE
    if not path.is_file():
        raise BuildError(f"sim/{NETWORK_CASE} is missing: the emit step writes the network's golden "
                         "vectors there", file=sim_dir.parent)
    return json.loads(path.read_text(encoding="utf-8"))


STREAM_PREFIX = {"in": "s_axis", "out": "m_axis"}
"""Vivado infers one AXI-Stream interface per ``<prefix>_t*`` port group: these are the two the
block design connects (the network top's ``ports`` must use them)."""


def _ports(network: dict[str, Any]) -> dict[str, str]:
    """``clock``, ``reset`` and the interface names, checked against the manifest's port names."""
    ports = network.get("ports", {})
    for side, prefix in STREAM_PREFIX.items():
        for role in ("data", "valid", "ready", "last"):
            name = ports.get(side, {}).get(role)
            if name != f"{prefix}_t{role}":
                raise BuildError(f"network top port for {side} {role} is {name!r}, not {prefix}_t{role}: "
                                 "Vivado would not infer its AXI-Stream interface")
    return {"clock": "clk", "reset": "rst", "stream_in": STREAM_PREFIX["in"],
            "stream_out": STREAM_PREFIX["out"]}


def gather_facts(build_dir: Path, board: Board, project: str, source: str) -> DesignFacts:
    """Read the build's RTL manifest and golden case; ``BuildError`` if either is missing."""
    network = network_entry(build_dir / "rtl")
    case = read_golden(build_dir / "sim")
    vectors = int(case["vectors"])
    if vectors < 1 or len(case["inputs"]) % vectors or len(case["expected"]) % vectors:
        raise BuildError(f"sim/{NETWORK_CASE}: {len(case['inputs'])} inputs and {len(case['expected'])} "
                         f"outputs do not split into {vectors} vectors", file=build_dir)
    inputs, expected = golden_values(case)
    widths, lanes = network.get("widths", {}), network.get("values_per_beat", {})

    def side(values: Any, key: str, port: str) -> StreamFacts:
        bits, signed = _value_type(case, key)
        width = int(lanes.get(port, 1))
        return StreamFacts(values.shape[1], bits, signed, _tdata_bits(bits, widths.get(port), width), width)

    stream_in, stream_out = side(inputs, "in", "s_axis_tdata"), side(expected, "out", "m_axis_tdata")
    ps_ip = PS_IP.get(board.family)
    name = identifier(project)
    notes = [] if ps_ip else [f"no Vivado block design: board {board.name!r} ({board.family}) has no Zynq "
                              "processing system; use the simulation transport, or integrate rtl/ by hand"]
    return DesignFacts(
        project=name, source=source, board=board.name, part=board.part, family=board.family,
        clock_mhz=float(board.pl_clock_mhz), ps_ip=ps_ip,
        board_part=BOARD_PARTS.get(board.name) if ps_ip else None,
        dma_width_bits=board.dma_width_bits, dma_name=DMA_NAME, top=str(network["top"]),
        verilog=[str(v) for v in network["verilog"]], ports=_ports(network), input=stream_in,
        output=stream_out,
        vectors=vectors, bitstream=f"{name}.bit", notes=notes,
    )
