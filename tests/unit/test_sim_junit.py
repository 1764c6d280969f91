"""`hwprune sim --junit-xml`'s report (hwprune.sim.junit) from hand-made verdicts: no simulator."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hwprune.cli import main
from hwprune.errors import HwpruneError
from hwprune.sim.bundle import LayerReport
from hwprune.sim.junit import cases_of, write_junit
from hwprune.sim.rtl_runner import Outcome, read_outcomes

MISMATCH = "first mismatch: /fc1/Gemm (timed): value differs at vector 4, output beat 1 of 4"


def report(name: str, ok: bool = True, **extra) -> LayerReport:
    return LayerReport(name=name, vectors=8, beats=32, bit_exact=ok, cycle_exact=ok, measured_last_cycle=9,
                       predicted_last_cycle=9, utilisation=1.0, log=f"{name}.log", passed=ok, **extra)


def reports() -> list[LayerReport]:
    network_checks = (Outcome("timed", False, 0.5, "assert: beat 23"), Outcome("backpressure", True, 0.25))
    return [report("/fc0/Gemm", seconds=1.5),
            report("/fc1/Gemm", ok=False, seconds=2.0, mismatches={"timed": MISMATCH + "\n  expected: 1"}),
            report("mlp_top", ok=False, kind="network", checks=network_checks,
                   mismatches={"timed": "first mismatch: network mlp_top (timed): cycle differs"})]


def test_one_case_per_layer_and_network_check_with_the_mismatch_as_failure(tmp_path: Path) -> None:
    path = write_junit(tmp_path / "sim.xml", cases_of(reports(), "hwprune.mlp"), "mlp")
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    assert [c.get("name") for c in cases] == ["layer /fc0/Gemm rtl", "layer /fc1/Gemm rtl", "network top timed",
                                              "network top backpressure"]
    assert {c.get("classname") for c in cases} == {"hwprune.mlp"}
    assert [float(c.get("time")) for c in cases] == [1.5, 2.0, 0.5, 0.25]
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert sorted(failed) == ["layer /fc1/Gemm rtl", "network top timed"]
    assert failed["layer /fc1/Gemm rtl"].get("message") == MISMATCH + "\n  expected: 1"  # newlines survive
    assert "cycle differs" in failed["network top timed"].text
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("name")) == ("4", "2", "mlp")
    assert [p.name for p in tmp_path.iterdir()] == ["sim.xml"]  # no temporary file left


def test_a_failed_check_without_a_mismatch_keeps_the_testbench_message() -> None:
    checks = (Outcome("timed", True, 0.1), Outcome("backpressure", False, 0.2, "2 beats lost"))
    network = report("top", ok=False, kind="network", checks=checks)
    cases = cases_of([network], "hwprune.m")
    assert [(c.name, c.failure) for c in cases] == [("network top timed", None),
                                                    ("network top backpressure", "2 beats lost")]
    crashed = cases_of([report("top", ok=False, kind="network")], "hwprune.m")  # no results file
    assert [c.name for c in crashed] == ["network top"] and "top.log" in crashed[0].failure


def test_the_report_replaces_an_earlier_one_and_an_unwritable_path_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "sim.xml"
    path.write_text("old")
    write_junit(path, cases_of([report("/fc0/Gemm")], "hwprune.m"), "m")
    assert ET.parse(path).getroot().find("testsuite").get("failures") == "0"
    with pytest.raises(HwpruneError, match="cannot write the JUnit report"):
        write_junit(tmp_path / "missing" / "sim.xml", [], "m")


def test_cli_refuses_a_junit_path_in_a_missing_directory_before_simulating(tmp_path: Path, capsys) -> None:
    assert main(["sim", str(tmp_path), "--junit-xml", str(tmp_path / "no" / "sim.xml")]) == 2
    assert "--junit-xml" in capsys.readouterr().err


def test_cocotb_results_become_outcomes(tmp_path: Path) -> None:
    path = tmp_path / "results.xml"
    path.write_text('<testsuites><testsuite><testcase name="timed" time="0.5"/>'
                    '<testcase name="backpressure" time="1.25"><failure message="beat 3: expected 1"/></testcase>'
                    "</testsuite></testsuites>")
    assert read_outcomes(path) == {"timed": Outcome("timed", True, 0.5),
                                   "backpressure": Outcome("backpressure", False, 1.25, "beat 3: expected 1")}
    assert read_outcomes(tmp_path / "none.xml") == {}
