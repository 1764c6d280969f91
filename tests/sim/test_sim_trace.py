"""``hwprune sim BUILD --trace [CASE]`` on the digits MLP: the waveform of a named layer (or of the first
failing case) lands in ``BUILD/sim/waves/``, is a valid waveform of the DUT, and its output ports carry,
beat for beat, the values the testbench checked; an unknown case name is a usage error naming the choices."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from hwprune.cli import main
from hwprune.sim.golden import mutate_value, read_case, write_case
from hwprune.sim.waves import trace_format
from sim_builds import check_fst_header, copy_build, vcd_handshakes

pytestmark = pytest.mark.sim


def sim(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["sim", *args])
    return code, out.getvalue()


def output_beats(waves: Path, case: dict) -> list[int]:
    """The waveform's output beats (VCD), or, for FST (no reader here), its header checked and the
    expected beats returned as they are."""
    if waves.suffix == ".fst":
        check_fst_header(waves)
        return list(case["expected"])
    scopes, beats = vcd_handshakes(waves, case["ports"])
    assert case["top"] in scopes, sorted(scopes)[:10]
    return beats


def test_trace_of_a_named_layer_writes_its_waveform_with_the_checked_beats(mlp_digits_build: Path) -> None:
    build = copy_build(mlp_digits_build, "trace-named")
    code, out = sim(str(build), "--trace", "/fc1/Gemm")
    assert code == 0, out
    waves = build / "sim" / "waves" / f"fc1_Gemm.{trace_format()}"
    assert f"waveform: {waves}" in out and f"gtkwave {waves}" in out and f"surfer {waves}" in out
    assert "/fc1/Gemm" in out and "fc0" not in out and "network" not in out  # that case alone
    case = read_case(build / "sim" / "fc1_Gemm.case.json")
    mask = (1 << case["out_bits"]) - 1
    expected = [value & mask for value in case["expected"]]
    assert output_beats(waves, case) == expected * 2  # the timed replay, then the backpressure one
    assert (build / "sim" / "obj" / "fc1_Gemm-trace").is_dir()  # apart from the untraced build


def test_trace_alone_writes_the_first_failing_cases_waveform(mlp_digits_build: Path) -> None:
    build = copy_build(mlp_digits_build, "trace-failing")
    path = build / "sim" / "fc0_Gemm.case.json"
    case = read_case(path)
    write_case(mutate_value(case, 9), path)
    code, out = sim(str(build), "--no-layers", "--trace")
    assert code == 0 and "no waveform written" in out, out  # the network top passes: nothing to trace
    code, out = sim(str(build), "--no-backpressure", "--trace")
    assert code == 1, out
    waves = build / "sim" / "waves" / f"fc0_Gemm.{trace_format()}"
    assert "first mismatch: /fc0/Gemm (timed)" in out and f"waveform: {waves}" in out
    assert not (build / "sim" / "waves" / f"network.{trace_format()}").exists()
    mask = (1 << case["out_bits"]) - 1
    assert output_beats(waves, case) == [value & mask for value in case["expected"]]  # what the RTL gave


def test_trace_of_an_unknown_case_is_a_usage_error_naming_the_choices(mlp_digits_build: Path) -> None:
    code, out = sim(str(mlp_digits_build), "--trace", "fc9")
    assert code == 2
    assert "--trace fc9: no such case; choose one of /fc0/Gemm, /fc1/Gemm, /fc2/Gemm, network" in out
    assert not (mlp_digits_build / "sim" / "waves").exists()
