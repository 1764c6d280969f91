"""HLS C-sim (g++) of the grouped and depthwise conv kernel (``hls/include/hwprune/grouped_conv.h``),
bit-identical to the integer reference on the RTL tests' grouped shapes; and a project without a
grouped layer neither copies nor includes that header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hwprune.backends.hls import write_hls
from hwprune.sim.csim import run_csim, to_stream, write_vectors
from hwprune.sim.vectors import kernel_reference, stimulus

from grouped_cases import GROUPED_SHAPES, grouped_spec
from hls_cases import conv_specs

pytestmark = pytest.mark.sim

VECTORS = 60


def test_grouped_conv_kernels_bit_exact(tmp_path: Path) -> None:
    specs = [grouped_spec(shape, seed=20 + i) for i, shape in enumerate(GROUPED_SHAPES)]
    project = write_hls(specs, None, "zcu102", tmp_path / "hls")
    assert (project.root / "firmware" / "include" / "hwprune" / "grouped_conv.h").is_file()
    expected = {}
    for index, spec in enumerate(specs):
        x = stimulus(spec, VECTORS, seed=2000 + index)
        want = kernel_reference(spec, x)
        write_vectors(project.root, f"{spec.ident}_top", x, want)
        expected[f"{spec.ident}_top"] = to_stream(want)
    result = run_csim(project.root)
    assert result.passed, result.summary() + "\n" + "\n".join(result.failures)
    for name, want in expected.items():
        top = result.tops[name]
        assert top.vectors == VECTORS + 4 and top.failing == 0, name
        np.testing.assert_array_equal(top.actual, want, err_msg=name)


def test_ungrouped_project_has_no_grouped_header(tmp_path: Path) -> None:
    project = write_hls(conv_specs()[:1], None, "zcu102", tmp_path / "hls")
    assert not (project.root / "firmware" / "include" / "hwprune" / "grouped_conv.h").exists()
    assert "grouped_conv" not in (project.root / "firmware" / f"{project.project}.h").read_text()
