"""Yosys synthesis estimates on a small Amaranth design whose mapping is known (one multiplier)."""

from __future__ import annotations

import pytest
from amaranth import Module, Signal, signed
from amaranth.back import verilog

from hwprune.estimate.synth_script import NEEDS_BRAM, _parse_step, fast_script
from hwprune.estimate.yosys import EstimateError, synthesize


def _mac_verilog(path):
    m = Module()
    a, b = Signal(signed(8)), Signal(signed(8))
    acc = Signal(signed(24))
    m.d.sync += acc.eq(acc + a * b)
    path.write_text(verilog.convert(m, name="mac", ports=[a, b, acc], emit_src=False))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("family", ["xcup", "xc7"])
def test_one_multiplier_maps_to_one_dsp(tmp_path, family):
    source = _mac_verilog(tmp_path / "mac.v")
    resources = synthesize([source], "mac", family, cache_dir=tmp_path / "cache")
    assert resources.dsp == 1
    assert resources.cells == sum(resources.by_type.values())
    expected_dsp = "DSP48E2" if family == "xcup" else "DSP48E1"
    assert resources.by_type.get(expected_dsp) == 1
    # a second call with the same sources is served from the content-hash cache
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    assert synthesize([source], "mac", family, cache_dir=tmp_path / "cache") == resources


@pytest.mark.slow
def test_generic_asic_counts_flip_flops(tmp_path):
    source = _mac_verilog(tmp_path / "mac.v")
    resources = synthesize([source], "mac", "generic", cache_dir=tmp_path / "cache")
    assert resources.ff >= 24 and resources.dsp == 0 and resources.cells > resources.ff


def test_bad_verilog_reports_the_yosys_error(tmp_path):
    source = tmp_path / "broken.v"
    source.write_text("module broken(input a; endmodule\n")
    with pytest.raises(EstimateError, match="Yosys failed"):
        synthesize([source], "broken", "xcup", cache_dir=tmp_path / "cache")


RAM_VERILOG = """module ram(input clk, input we, input [9:0] wa, input [9:0] ra, input [17:0] wd, output reg [17:0] rd);
  reg [17:0] mem [0:1023];
  always @(posedge clk) begin if (we) mem[wa] <= wd; rd <= mem[ra]; end
endmodule
"""


def _standard_only(monkeypatch):
    """Make synthesize() run only synth_xilinx as Yosys ships it (no fast script)."""
    monkeypatch.setattr("hwprune.estimate.yosys.memory_step", lambda *args, **kwargs: None)


@pytest.mark.slow
def test_a_block_ram_design_is_synthesised_by_the_full_script(tmp_path, monkeypatch):
    source = tmp_path / "ram.v"
    source.write_text(RAM_VERILOG)
    fast = synthesize([source], "ram", "xcup", cache_dir=tmp_path / "fast")
    assert fast.bram18 == 1 and fast.by_type.get("RAMB18E2") == 1
    _standard_only(monkeypatch)
    # the fast script's assertion failed, so the standard script produced the figure: identical cells
    assert synthesize([source], "ram", "xcup", cache_dir=tmp_path / "standard") == fast


@pytest.mark.slow
def test_the_fast_script_skips_only_the_block_ram_map(tmp_path, monkeypatch):
    source = _mac_verilog(tmp_path / "mac.v")
    monkeypatch.setattr("hwprune.estimate.synth_script._steps", {})  # ask this Yosys, into this cache
    fast = synthesize([source], "mac", "xcup", cache_dir=tmp_path / "fast")
    assert list((tmp_path / "fast" / "synth_xilinx").glob("map_memory-xcup-*.json"))
    _standard_only(monkeypatch)
    standard = synthesize([source], "mac", "xcup", cache_dir=tmp_path / "standard")
    assert (fast.dsp, fast.ff, fast.lut, fast.by_type) == (standard.dsp, standard.ff, standard.lut, standard.by_type)


def test_map_memory_commands_are_read_from_the_echo_log():
    log = ("yosys> synth_xilinx -family xc7 -run map_memory:map_ffram\n"
           "yosys> memory_libmap -lib +/xilinx/lutrams_xc5v.txt -lib +/xilinx/brams_xc4v.txt\n"
           "yosys> techmap -map +/xilinx/lutrams_xc5v_map.v\n"
           "yosys> techmap -map +/xilinx/brams_xc6v_map.v\n")
    assert _parse_step(log) == ("memory_libmap -lib +/xilinx/lutrams_xc5v.txt -lib +/xilinx/brams_xc4v.txt",
                                "techmap -map +/xilinx/lutrams_xc5v_map.v")
    # UltraScale+: an UltraRAM techmap after the block-RAM one is kept, in its place
    uram = _parse_step(log + "yosys> techmap -map +/xilinx/urams_map.v\n")
    assert uram is not None and uram[1:] == ("techmap -map +/xilinx/lutrams_xc5v_map.v", "techmap -map +/xilinx/urams_map.v")
    # a step of another shape (a Yosys that maps memories differently): no fast script at all
    assert _parse_step(log.replace("yosys> techmap -map +/xilinx/brams_xc6v_map.v\n", "")) is None
    assert _parse_step(log.replace("yosys> memory_libmap", "yosys> memory_bram")) is None
    script = fast_script(["k.v"], "k", "xc7", [], _parse_step(log))
    assert "brams_xc6v_map" not in script and f"select -assert-none t:$__* {NEEDS_BRAM} %d" in script


@pytest.mark.slow
def test_jobs_of_one_key_at_once_run_yosys_once(tmp_path, monkeypatch):
    """Two compiles asking for the same figure at the same time: one synthesizes, the other waits on the
    key's lock and reads the cached figure (the same counts, one Yosys run)."""
    import threading
    import time

    from hwprune.estimate import yosys

    source = _mac_verilog(tmp_path / "mac.v")
    real, runs = yosys._synthesize_uncached, []

    def slow(*args, **kwargs):
        runs.append(threading.get_ident())
        time.sleep(0.5)  # long enough that the second thread arrives while the first holds the lock
        return real(*args, **kwargs)

    monkeypatch.setattr(yosys, "_synthesize_uncached", slow)
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(
        synthesize([source], "mac", "xcup", cache_dir=tmp_path / "cache"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs) == 1 and len(results) == 2 and results[0] == results[1] and results[0].dsp == 1
