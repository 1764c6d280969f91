"""``hwprune sim BUILD --trace [CASE]``: typer has no option with an optional value, so the CLI rewrites a
bare ``--trace`` (last, or before another option) to ``--trace=failing``; a named case, and every other
command's arguments, pass through untouched."""

from __future__ import annotations

from hwprune.cli_sim import fill_optional_values


def test_a_bare_trace_means_the_failing_case() -> None:
    assert fill_optional_values(["sim", "b", "--trace"]) == ["sim", "b", "--trace=failing"]
    assert fill_optional_values(["sim", "b", "--trace", "-j", "2"]) == ["sim", "b", "--trace=failing", "-j", "2"]
    assert fill_optional_values(["sim", "b", "--trace", "--no-backpressure"])[2] == "--trace=failing"


def test_a_named_case_and_other_commands_pass_through() -> None:
    assert fill_optional_values(["sim", "b", "--trace", "/fc0/Gemm"]) == ["sim", "b", "--trace", "/fc0/Gemm"]
    assert fill_optional_values(["sim", "b", "--trace=network"]) == ["sim", "b", "--trace=network"]
    assert fill_optional_values(["compile", "m.onnx", "--trace"]) == ["compile", "m.onnx", "--trace"]
    assert fill_optional_values([]) == []
