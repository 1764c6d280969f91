"""The cycle model of a kernel, whatever its kind: the dense engine's or the conv engine's.

Why a module of its own: ``hwprune.lower.conv_cycles`` builds the conv model on the dense engine of
``hwprune.lower.cycles``, so the one choice between the two lives above both and imports flow one way
(``cycles`` <- ``conv_cycles`` <- ``kernel_cycles``).
"""

from __future__ import annotations

from hwprune.lower.conv_cycles import ConvModel
from hwprune.lower.cycles import EngineModel, EngineTiming
from hwprune.lower.kernel_spec import KernelSpec

__all__ = ["kernel_model"]


def kernel_model(spec: KernelSpec) -> EngineModel | ConvModel:
    """The stateful cycle model of a kernel (one vector = one input vector, or one frame for conv)."""
    if spec.kind == "conv":
        return ConvModel(spec)
    return EngineModel(EngineTiming.of(spec))
