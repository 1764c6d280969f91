"""RTL backend: Amaranth components (the sparse dot-product engine, the conv window generator) and
Verilog emission. Entry points: ``emit_kernel`` here, ``hwprune.sim.bundle.emit_rtl`` for a design."""

from hwprune.backends.rtl.emit import RtlDesign, emit_kernel, kernel_component

__all__ = ["RtlDesign", "emit_kernel", "kernel_component"]
