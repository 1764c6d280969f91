"""The header library's own g++ unit tests (hls/tests), built with -Wall -Wextra -Werror and run.

Two builds: with the ``hls_stream.h`` found next to the ap_types headers, and with the library's
host-side stream shim forced (HWPRUNE_HOST_STREAM), so both stream implementations stay working.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hwprune.resources import shipped_dir
from hwprune.sim.csim import build_header_tests

pytestmark = pytest.mark.sim


def _run(binary: Path) -> str:
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout and ", 0 failed checks" in proc.stdout, proc.stdout
    return proc.stdout


def test_header_unit_tests_pass(tmp_path: Path) -> None:
    out = _run(build_header_tests(tmp_path).binary)
    sources = sorted(p.stem for p in (shipped_dir("hls") / "tests").glob("test_*.cpp"))
    assert sources == ["test_conv", "test_dense", "test_nonlinear", "test_pool", "test_requant", "test_stream",
                       "test_token_selector"]
    for name in ("requant_rounds_half_up", "requant_random_sweep", "dense_shared_offsets",
                 "conv_sparse_stride2", "maxpool_3x3_stride2_pad1_int8",
                 "dense_reads_flattened_channels_last_map", "softmax_keep_matches_int64_over_all_pairs",
                 "token_selector_prunes_all_but_the_class_token_with_a_zero_denominator"):
        assert f"PASS {name}\n" in out


def test_header_unit_tests_pass_on_the_host_stream_shim(tmp_path: Path) -> None:
    out = _run(build_header_tests(tmp_path, host_stream=True, names=["test_stream", "test_pool"]).binary)
    assert "PASS stream_is_the_expected_implementation" in out


def test_pragmas_reach_synthesis(tmp_path: Path) -> None:
    """Pragmas vanish for g++ (-Wall would reject them) but must expand for Vitis: preprocess as it would."""
    from hwprune.sim.csim import ap_types_dir

    include = shipped_dir("hls") / "include"
    source = tmp_path / "probe.cpp"
    source.write_text('#include <hwprune/hwprune.h>\n'
                      'HWPRUNE_LOOP(probe_loop) HWPRUNE_PRAGMA(HLS PIPELINE II=1)\n')
    # (the open-source ap_types refuse -D__SYNTHESIS__; HWPRUNE_EMIT_PRAGMAS takes the same branch)
    command = ["g++", "-std=c++14", "-E", "-DHWPRUNE_EMIT_PRAGMAS", "-isystem", str(ap_types_dir()),
               f"-I{include}", str(source)]
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout[-400:]  # the probe line, after the expanded headers
    assert "probe_loop:" in tail and "#pragma HLS PIPELINE II=1" in tail
    text = "".join(p.read_text() for p in sorted((include / "hwprune").glob("*.h")))
    for pragma in ("HLS PIPELINE II=1", "HLS ARRAY_PARTITION variable=weights cyclic factor=LANES dim=1",
                   "HLS ARRAY_PARTITION variable=weights cyclic factor=MACS dim=2", "HLS UNROLL"):
        assert f"HWPRUNE_PRAGMA({pragma})" in text
