"""The engines of a depthwise conv that runs ``m`` channels side by side (``KernelSpec.group_lanes``).

Why in ``lower``: the RTL builds one dot-product engine per kernel returned here
(``hwprune.backends.rtl.group_parallel``), and the resource model counts the same engines, so both read
one split of the weights.
"""

from __future__ import annotations

from dataclasses import replace

from hwprune.lower.kernel_spec import KernelSpec
from hwprune.prune.patterns.base import PackedWeights

__all__ = ["sub_specs"]


def sub_specs(spec: KernelSpec) -> list[KernelSpec]:
    """The ``group_lanes`` engines' kernels: engine ``j`` holds channels ``j, j + m, …`` (their filters,
    biases and requantisers) as a group-serial depthwise conv of ``C / m`` channels taking one whole
    window per beat."""
    m, g = spec.group_lanes, spec.conv
    if m == 1 or g is None:
        raise ValueError(f"kernel {spec.name!r} runs no engines side by side")
    w = spec.weights
    subs = []
    for j in range(m):
        rows = slice(j, None, m)
        weights = PackedWeights(w.layout, w.values[rows], w.offsets[rows])
        subs.append(replace(spec, name=f"{spec.name}#{j}", ident=f"{spec.ident}_g{j}", out_features=g.group // m,
                            weights=weights, bias=spec.bias[rows], requant_mult=spec.requant_mult[rows],
                            requant_shift=spec.requant_shift[rows],
                            conv=replace(g, in_channels=g.in_channels // m, group=g.group // m),
                            in_simd=g.kernel[0] * g.kernel[1], out_pe=1, frame_simd=1))
    return subs
