"""Yosys synthesis estimates on a small Amaranth design whose mapping is known (one multiplier)."""

from __future__ import annotations

import pytest
from amaranth import Module, Signal, signed
from amaranth.back import verilog

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
