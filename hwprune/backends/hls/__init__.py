"""HLS backend: KernelSpecs (+ the quantized graph) → a Vitis HLS project with a C-sim testbench.

``write_hls(kernels, qgraph, board, out_dir)`` writes ``build/<…>/hls/``; the C-simulation that
checks it bit for bit against the integer reference is :func:`hwprune.sim.csim.run_csim`.
See docs/hls.md.
"""

from __future__ import annotations

from .writer import MANIFEST, HlsProject, HlsTop, clock_period_ns, write_hls

__all__ = ["write_hls", "HlsProject", "HlsTop", "clock_period_ns", "MANIFEST"]
