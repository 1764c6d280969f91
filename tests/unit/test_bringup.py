"""``board/``: the Vivado block design Tcl (read, and executed by a Tcl interpreter against stub
Vivado commands), the driver's DMA buffer format and checks (fake transports), the notebook's
structure, boards without a processing system, hostile names and reproducibility."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from hwprune.boards import load_board
from hwprune.bringup import notebook_cells, write_bringup

PS_BOARDS = {"zcu102": "zynq_ultra_ps_e", "zcu104": "zynq_ultra_ps_e", "kv260": "zynq_ultra_ps_e",
             "ultra96v2": "zynq_ultra_ps_e", "pynq-z2": "processing_system7"}


@pytest.fixture(scope="module")
def mlp_build(tmp_path_factory, examples_dir) -> Path:
    """The example MLP compiled for the ZCU104 through the whole flow (bringup step included)."""
    from hwprune.config import CompileConfig
    from hwprune.flow import compile_model

    out = tmp_path_factory.mktemp("bringup") / "mlp"
    compile_model(examples_dir / "mlp_digits.onnx", out, CompileConfig(board="zcu104", estimate=False))
    return out


def _rebuild_for(build: Path, board: str, target: Path, project: str = "mlp_digits",
                 source: str = "mlp_digits.onnx") -> Path:
    """A copy of the build's rtl/, sim/ and hls/ with board/ written for another board."""
    for name in ("rtl", "sim", "hls"):
        shutil.copytree(build / name, target / name, ignore=shutil.ignore_patterns("obj"))
    write_bringup(target, load_board(board), project=project, source=source)
    return target / "board"


def _network(build: Path) -> dict:
    return json.loads((build / "rtl" / "manifest.json").read_text())["network"]


def _module_ports(verilog: Path, top: str) -> set[str]:
    text = verilog.read_text()
    match = re.search(rf"\bmodule\s+{re.escape(top)}\s*\(([^)]*)\)", text)
    assert match, f"module {top} not found in {verilog.name}"
    return {port.strip() for port in match.group(1).split(",")}


STUB_VIVADO = r"""
set ::calls {}
set argv {}
proc unknown {name args} {
    lappend ::calls [list $name {*}$args]
    switch -- $name {
        get_ipdefs { return [string map {* 9.9} [lindex $args end]] }
        get_board_parts { return "" }
        get_property { return "100%" }
        make_wrapper { return wrapper.v }
        get_bd_pins - get_bd_intf_pins - get_files - create_bd_cell { return [lindex $args end] }
        default { return "" }
    }
}
rename file _file
proc file {sub args} {
    if {$sub in {copy mkdir delete}} { lappend ::calls [list file $sub {*}$args]; return }
    return [_file $sub {*}$args]
}
rename glob _glob
proc glob {args} { lappend ::calls [list glob {*}$args]; return [list [lindex $args end]] }
"""


def _run_tcl(script: Path) -> list[list[str]]:
    """Execute ``script`` in a real Tcl interpreter whose Vivado commands are stubs that record calls."""
    import tkinter

    tcl = tkinter.Tcl()
    tcl.eval(STUB_VIVADO)
    tcl.eval(f"source {{{script}}}")
    calls = tcl.splitlist(tcl.eval("set ::calls"))
    return [list(tcl.splitlist(call)) for call in calls]


def test_flow_writes_the_board_directory(mlp_build):
    board = mlp_build / "board"
    manifest = json.loads((board / "manifest.json").read_text())
    assert sorted(p.name for p in board.iterdir()) == manifest["files"] == sorted([
        "README.md", "bringup.ipynb", "design.json", "driver.py", "golden.json", "manifest.json",
        "vitis_hls.tcl", "vivado_bd.tcl"])
    assert manifest["top"] == _network(mlp_build)["top"] and manifest["notes"] == []
    design = json.loads((board / "design.json").read_text())
    width = _network(mlp_build)["values_per_beat"]["s_axis_tdata"]
    assert width > 1  # the first dense layer is stream-bound on the ZCU104: its input port is wide
    assert design["input"] == {"values": 64, "bits": 8, "signed": False, "tdata_bits": 8 * width, "width": width}
    assert design["output"]["values"] == 10 and design["dma_width_bits"] == 128
    golden = json.loads((board / "golden.json").read_text())
    case = json.loads((mlp_build / "sim" / "network.case.json").read_text())
    assert case["in_bits"] == 8 * width and case["elements"]["in"] == [width, 8, False]
    words = [sum(v << (8 * j) for j, v in enumerate(row[i:i + width])) for row in golden["inputs"]
             for i in range(0, 64, width)]
    assert words == case["inputs"]  # the golden values, byte lane j of each tdata word
    from hwprune.sim.network import case_values

    inputs, expected = case_values(case)
    assert inputs.tolist() == golden["inputs"] and expected.tolist() == golden["expected"]
    hls = (board / "vitis_hls.tcl").read_text()
    assert "source [file join [file dirname [file normalize [info script]]] .. hls run_hls.tcl]" in hls
    assert (mlp_build / "hls" / "run_hls.tcl").is_file()


@pytest.mark.parametrize("board_name", sorted(PS_BOARDS))
def test_block_design_tcl_for_each_zynq_board(board_name, mlp_build, tmp_path):
    board = load_board(board_name)
    out = _rebuild_for(mlp_build, board_name, tmp_path)
    text = (out / "vivado_bd.tcl").read_text()
    network = _network(mlp_build)
    top = network["top"]
    ps, other = PS_BOARDS[board_name], ({*PS_BOARDS.values()} - {PS_BOARDS[board_name]}).pop()
    assert f"create_project -force mlp_digits $proj_dir -part {board.part}\n" in text
    assert f"[latest_ip {ps}]" in text and other not in text
    clock = ("PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ" if ps == "zynq_ultra_ps_e"
             else "PCW_FPGA0_PERIPHERAL_FREQMHZ")
    assert f"CONFIG.{clock} {{{board.pl_clock_mhz:g}}}" in text
    for side in ("mm2s", "s2mm"):
        assert f"CONFIG.c_m_axi_{side}_data_width {{{board.dma_width_bits}}}" in text
    assert f"create_bd_cell -type module -reference {top} accel" in text

    calls = _run_tcl(out / "vivado_bd.tcl")
    names = [c[0] for c in calls]
    added = [Path(p).name for c in calls if c[0] == "add_files" and "-norecurse" in c for p in c[-1].split()]
    assert added[:len(network["verilog"])] == network["verilog"]
    assert all((mlp_build / "rtl" / name).is_file() for name in network["verilog"])
    intf = {tuple(c[1:]) for c in calls if c[0] == "connect_bd_intf_net"}
    assert ("axi_dma/M_AXIS_MM2S", "accel/s_axis") in intf and ("accel/m_axis", "axi_dma/S_AXIS_S2MM") in intf
    # every accelerator pin the Tcl touches is a port of the generated top module
    ports = _module_ports(mlp_build / "rtl" / f"{top}.v", top)
    assert {"s_axis_tdata", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast", "m_axis_tdata", "m_axis_tvalid",
            "m_axis_tready", "m_axis_tlast", "clk", "rst"} <= ports
    pins = {a.split("/", 1)[1] for c in calls for a in c[1:] if a.startswith("accel/")}
    assert pins == {"s_axis", "m_axis", "clk", "rst"}
    nets = [c[1:] for c in calls if c[0] == "connect_bd_net"]
    assert any("accel/clk" in net for net in nets) and ["pl_reset/peripheral_reset", "accel/rst"] in nets
    order = ["create_bd_design", "assign_bd_address", "validate_bd_design", "make_wrapper", "launch_runs"]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
    runs = [c for c in calls if c[0] == "launch_runs"]
    assert runs[0][1] == "synth_1" and runs[1][1:3] == ["impl_1", "-to_step"] and "write_bitstream" in runs[1]
    copies = [Path(c[-1]).name for c in calls if c[:2] == ["file", "copy"]]
    assert copies == ["mlp_digits.bit", "mlp_digits.hwh"]


@pytest.mark.parametrize("board_name", ["alveo-u250", "generic-asic"])
def test_boards_without_a_processing_system_get_no_block_design(board_name, mlp_build, tmp_path):
    out = _rebuild_for(mlp_build, board_name, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "vivado_bd.tcl" not in manifest["files"] and not (out / "vivado_bd.tcl").exists()
    assert any("no Zynq processing system" in note for note in manifest["notes"])
    assert "no Zynq processing system" in (out / "README.md").read_text()
    driver = _load_driver(out)
    with pytest.raises(driver.BringupError, match="has no Zynq PS"):
        driver.BoardTransport(driver.Design.load(out))


def _load_driver(board_dir: Path):
    name = f"hwprune_board_driver_{abs(hash(str(board_dir)))}"
    spec = importlib.util.spec_from_file_location(name, board_dir / "driver.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


class Loopback:
    """A transport that answers with the golden outputs of the inputs it is sent (optionally with
    one byte of the receive buffer flipped), and remembers what it was sent."""

    name = "loopback"

    def __init__(self, driver, board_dir: Path, corrupt: int | None = None) -> None:
        self.driver, self.design = driver, driver.Design.load(board_dir)
        golden = json.loads((board_dir / "golden.json").read_text())
        self.table = {tuple(i): o for i, o in zip(golden["inputs"], golden["expected"])}
        self.corrupt, self.sent = corrupt, None

    def run(self, transfer):
        self.sent = transfer
        fmt = self.design.input
        inputs = self.driver.unpack(transfer.send, fmt, transfer.vectors, fmt.vector_bytes)
        outputs = np.array([self.table[tuple(row)] for row in inputs.tolist()])
        received = self.driver.place_outputs(outputs, self.design)
        if self.corrupt is not None:
            received[self.corrupt] ^= 0x01
        return self.driver.TransportResult(received, seconds=1e-3)


def test_driver_packs_sends_unpacks_and_checks(mlp_build):
    board = mlp_build / "board"
    driver = _load_driver(board)
    transport = Loopback(driver, board)
    accelerator = driver.Accelerator(board, transport)
    inputs, expected = accelerator.golden()
    result = accelerator.run_golden()
    vectors = json.loads((mlp_build / "sim" / "network.case.json").read_text())["vectors"]
    assert result.bit_exact and result.vectors == len(inputs) == vectors
    assert np.array_equal(result.outputs, expected)
    # the DMA buffer format: 8-bit unsigned inputs back to back; outputs in 16-byte slots (128-bit DMA)
    assert transport.sent.send.dtype == np.uint8 and np.array_equal(transport.sent.send, inputs.reshape(-1))
    out = driver.Design.load(board).output
    assert (transport.sent.out_slot_bytes, transport.sent.out_vector_bytes) == (16, -(-10 // out.width) * out.width)
    assert result.inferences_per_s == pytest.approx(vectors / 1e-3)
    assert result.summary().startswith(f"loopback: {vectors} vectors bit-exact; 1000.0 us")


def test_driver_fills_the_last_beat_of_a_wide_stream(mlp_build):
    """Ten 4-bit signed values, four to a 32-bit beat: three beats, the last two lanes zero."""
    driver = _load_driver(mlp_build / "board")
    fmt = driver.StreamFormat(values=10, bits=4, signed=True, tdata_bits=32, width=4)
    assert (fmt.beats, fmt.lanes, fmt.lane_bytes, fmt.vector_bytes) == (3, 12, 1, 12)
    values = np.array([[1, -2, 3, -8, 7, 0, -1, 5, 6, -3], [0] * 9 + [-8]])
    buffer = driver.pack(values, fmt)
    assert buffer.tolist()[:12] == [1, 0xFE, 3, 0xF8, 7, 0, 0xFF, 5, 6, 0xFD, 0, 0]
    assert np.array_equal(driver.unpack(buffer, fmt, 2, fmt.vector_bytes), values)
    with pytest.raises(driver.BringupError, match=r"shape \[vectors, 10\]"):
        driver.pack(values[:, :8], fmt)


def test_driver_reports_the_first_wrong_value(mlp_build):
    board = mlp_build / "board"
    driver = _load_driver(board)
    slot = driver.Design.load(board).out_slot_bytes
    accelerator = driver.Accelerator(board, Loopback(driver, board, corrupt=3 * slot + 7))
    result = accelerator.run_golden()
    assert not result.bit_exact and len(result.mismatches) == 1
    vector, beat, got, want = result.mismatches[0]
    assert (vector, beat) == (3, 7) and got == want ^ 1
    assert "1 MISMATCHES, first (vector, value, got, want) (3, 7," in result.summary()


def test_stream_format_edges(mlp_build):
    driver = _load_driver(mlp_build / "board")
    s4 = driver.StreamFormat(values=3, bits=4, signed=True, tdata_bits=8)
    assert driver.pack(np.array([[-8, 7, -1]]), s4).tolist() == [0xF8, 0x07, 0xFF]
    assert driver.unpack(np.array([0x0F, 0x08, 0x77], dtype=np.uint8), s4, 1, 3).tolist() == [[-1, -8, 7]]
    s16 = driver.StreamFormat(values=2, bits=16, signed=True, tdata_bits=16)
    packed = driver.pack(np.array([[-2, 300]]), s16)
    assert packed.tolist() == [0xFE, 0xFF, 0x2C, 0x01]
    assert driver.unpack(np.concatenate([packed, np.zeros(4, np.uint8)]), s16, 1, 8).tolist() == [[-2, 300]]
    with pytest.raises(driver.BringupError,
                       match=r"inputs must lie in \[-8, 7\] \(4-bit signed\), found \[-9, 0\]"):
        driver.pack(np.array([[-9, 0, 0]]), s4)
    with pytest.raises(driver.BringupError, match=r"inputs must have shape \[vectors, 3\], not \[1, 2\]"):
        driver.pack(np.array([[1, 2]]), s4)


def test_board_transport_needs_the_bitstream_and_cli_says_so(mlp_build, capsys):
    board = mlp_build / "board"
    driver = _load_driver(board)
    with pytest.raises(driver.BringupError,
                       match=r"mlp_digits\.bit is missing: build it with vivado_bd\.tcl"):
        driver.open_transport("board", driver.Design.load(board))
    assert driver.main(["--transport", "board"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("driver: error: ") and err.count("\n") == 1


def test_notebook_is_built_from_the_cell_templates(mlp_build):
    import nbformat

    notebook = nbformat.read(mlp_build / "board" / "bringup.ipynb", as_version=4)
    nbformat.validate(notebook)
    kinds = [kind for kind, _ in notebook_cells()]
    assert [cell.cell_type for cell in notebook.cells] == kinds and len(kinds) >= 5
    assert [cell.id for cell in notebook.cells] == [f"cell-{i:02d}" for i in range(1, len(kinds) + 1)]
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert 'TRANSPORT = "auto"' in code and "from driver import Accelerator" in code
    assert "assert result.bit_exact" in code and all(not cell.get("outputs") for cell in notebook.cells
                                                        if cell.cell_type == "code")


def test_hostile_names_stay_in_comments_and_identifiers(mlp_build, tmp_path):
    out = _rebuild_for(mlp_build, "pynq-z2", tmp_path, project="my model-v2",
                       source="we\\ird\nname.onnx")
    text = (out / "vivado_bd.tcl").read_text()
    assert "create_project -force my_model_v2 " in text
    assert text.splitlines()[0].endswith("from we/ird name.onnx: board bring-up. Do not edit.")
    calls = _run_tcl(out / "vivado_bd.tcl")  # the banner swallowed no line of code
    assert calls[0][0] == "create_project"
    assert json.loads((out / "design.json").read_text())["bitstream"] == "my_model_v2.bit"


def test_rewriting_is_byte_identical_and_removes_stale_files(mlp_build, tmp_path):
    out = _rebuild_for(mlp_build, "zcu104", tmp_path)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert first == {p.name: p.read_bytes() for p in (mlp_build / "board").iterdir()}
    (out / "mlp_digits.bit").write_bytes(b"bitstream")  # what a user copies in stays
    write_bringup(tmp_path, load_board("alveo-u250"), project="mlp_digits", source="mlp_digits.onnx")
    assert not (out / "vivado_bd.tcl").exists() and (out / "mlp_digits.bit").exists()
    write_bringup(tmp_path, load_board("zcu104"), project="mlp_digits", source="mlp_digits.onnx")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".bit"} == first


def test_a_build_without_a_network_top_gets_only_a_note(mlp_build, tmp_path):
    for name in ("rtl", "sim"):
        shutil.copytree(mlp_build / name, tmp_path / name, ignore=shutil.ignore_patterns("obj"))
    manifest = json.loads((tmp_path / "rtl" / "manifest.json").read_text())
    manifest["network"] = {"skipped": "node 'add0' (Add): has a second activation input or a fan-out"}
    (tmp_path / "rtl" / "manifest.json").write_text(json.dumps(manifest))
    out = write_bringup(tmp_path, load_board("zcu104"), project="mlp_digits", source="mlp_digits.onnx")
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    note = json.loads((out / "manifest.json").read_text())
    assert note["files"] == ["manifest.json"]
    assert note["skipped"] == ("no network top in rtl/manifest.json (node 'add0' (Add): has a second activation "
                               "input or a fan-out)")
