"""HLS C-sim of every balanced layout family, dense and conv, bit-identical to the integer reference.

One kernel-mode HLS project per kind holds every case as its own top, so one g++ build runs all of
them (200 random vectors + 4 edge cases each, from files). Pass needs both the testbench's own
comparison and an independent one here: the outputs the C-sim wrote vs ``kernel_reference``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.hls import write_hls
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.sim.csim import run_csim, to_stream, write_vectors
from hwprune.sim.vectors import kernel_reference, stimulus

from hls_cases import VECTORS, conv_specs, dense_specs

pytestmark = pytest.mark.sim


def _check_bit_exact(specs: list[KernelSpec], out_dir: Path) -> None:
    project = write_hls(specs, None, "zcu102", out_dir)
    expected = {}
    for index, spec in enumerate(specs):
        x = stimulus(spec, VECTORS, seed=1000 + index)
        want = kernel_reference(spec, x)
        write_vectors(project.root, f"{spec.ident}_top", x, want)
        expected[f"{spec.ident}_top"] = to_stream(want)
    result = run_csim(project.root)
    assert result.passed, result.summary() + "\n" + "\n".join(result.failures)
    assert sorted(result.tops) == sorted(expected)
    for name, want in expected.items():
        top = result.tops[name]
        assert top.vectors == VECTORS + 4 and top.failing == 0, name
        np.testing.assert_array_equal(top.actual, want, err_msg=name)


def test_dense_kernels_bit_exact(tmp_path: Path) -> None:
    specs = dense_specs()
    assert {s.pattern for s in specs} >= {"dense", "nm", "bank", "stochastic", "block-punched"}
    _check_bit_exact(specs, tmp_path / "hls")


def test_conv_kernels_bit_exact(tmp_path: Path) -> None:
    specs = conv_specs()
    assert {s.pattern for s in specs} == {"dense", "nm", "bank", "stochastic", "block-punched"}
    assert any(s.passes > 1 and s.out_features % s.lanes for s in specs)  # several passes, a short last one
    _check_bit_exact(specs, tmp_path / "hls")


def test_block_punched_offsets_stored_once_per_pass(tmp_path: Path) -> None:
    """The writer notices shared offsets and stores one list per pass (the block-punched saving)."""
    specs = [s for s in conv_specs() if s.pattern == "block-punched"][:1]
    project = write_hls(specs, None, "zcu102", tmp_path / "hls")
    spec = specs[0]
    header = (project.root / "firmware" / "weights.h").read_text()
    groups, kept = spec.layout.groups, spec.layout.kept_per_group
    assert f"{spec.ident}_offsets[{spec.passes}][{groups}][{kept}]" in header
    assert "static const bool shared_offsets = true;" in (project.root / "firmware" / "kernels.h").read_text()
