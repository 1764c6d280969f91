"""The torch-side pruning API users call from their own training loop.

    sp = Sparsifier(model, pattern="balanced_stochastic", sparsity=0.75, schedule=Cubic(steps=20),
                    skip=["fc2"], overrides={"fc0": {"sparsity": 0.5}})
    for epoch ...: train(); sp.step()
    masks = sp.finalize()

Masks live in ``torch.nn.utils.parametrize`` parametrizations (``weight = original · mask``), so the
optimizer still updates ``original`` while the forward pass, the gradients reaching ``original`` and the
exported weights are masked. Masks are recomputed from ``original`` at every step of the ramp, so a
weight pruned early can return (and the stochastic pattern re-draws with ``seed + step``); once the
schedule is done they freeze. Modelled on, but not importing, ``torch.ao.pruning``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from hwprune.prune.patterns.base import Pattern, PatternError, check_sparsity, get_pattern
from hwprune.prune.schedules import OneShot, Schedule, make_schedule

__all__ = ["Sparsifier", "LayerTarget", "resolve_targets", "prunable_layers"]

log = logging.getLogger(__name__)

PRUNABLE = (nn.Linear, nn.Conv2d)


class _Mask(nn.Module):
    """Parametrization ``w → w · mask`` with the mask as a (saved) buffer."""

    def __init__(self, shape: torch.Size) -> None:
        super().__init__()
        self.register_buffer("mask", torch.ones(shape, dtype=torch.bool))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


@dataclass
class LayerTarget:
    """One prunable layer with its pattern and final sparsity."""

    name: str
    module: nn.Module
    pattern: Pattern
    sparsity: float
    seed: int = 0
    history: list[float] = field(default_factory=list)

    @property
    def masks_bias(self) -> bool:
        return bool(getattr(self.pattern, "masks_bias", False)) and getattr(self.module, "bias", None) is not None


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every Linear/Conv2d by its module name, in definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, PRUNABLE)}


def _make_pattern(pattern: str | Pattern, params: Mapping[str, Any] | None) -> Pattern:
    if isinstance(pattern, Pattern):
        if params:
            raise PatternError("give pattern parameters to the Pattern's constructor, not as params")
        return pattern
    return get_pattern(pattern, **dict(params or {}))


def resolve_targets(
    model: nn.Module,
    pattern: str | Pattern,
    sparsity: float,
    *,
    params: Mapping[str, Any] | None = None,
    skip: tuple[str, ...] | list[str] = (),
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
) -> list[LayerTarget]:
    """The layers to prune with their pattern and sparsity (per-layer overrides by module name).

    An override is ``{"pattern": name, "sparsity": s, <pattern params>...}``; any key may be left out.
    Unknown names in ``skip``/``overrides`` are an error listing the prunable layers.
    """
    layers = prunable_layers(model)
    overrides = dict(overrides or {})
    unknown = [n for n in [*skip, *overrides] if n not in layers]
    if unknown:
        raise PatternError(f"no prunable layer named {unknown[0]!r}; prunable layers: {', '.join(layers) or 'none'}")
    default = _make_pattern(pattern, params)
    targets = []
    for index, (name, module) in enumerate(layers.items()):
        if name in skip:
            continue
        layer_pattern, layer_sparsity = default, check_sparsity(sparsity)
        if name in overrides:
            extra = dict(overrides[name])
            layer_sparsity = check_sparsity(extra.pop("sparsity", layer_sparsity))
            if "pattern" in extra or extra:
                layer_pattern = _make_pattern(extra.pop("pattern", default.name), extra)
        targets.append(LayerTarget(name, module, layer_pattern, layer_sparsity, seed + 7919 * index))
    return targets


class Sparsifier:
    """Prune the Linear/Conv2d layers of ``model`` with a hardware pattern, following a schedule."""

    def __init__(
        self,
        model: nn.Module,
        pattern: str | Pattern = "balanced_stochastic",
        sparsity: float = 0.75,
        schedule: str | Schedule = "one_shot",
        *,
        params: Mapping[str, Any] | None = None,
        skip: tuple[str, ...] | list[str] = (),
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 0,
        ramp_steps: int = 10,
    ) -> None:
        self.model = model
        self.schedule = make_schedule(schedule, ramp_steps)
        self.targets = resolve_targets(model, pattern, sparsity, params=params, skip=skip, overrides=overrides,
                                       seed=seed)
        self.step_count = 0
        self.finalized: dict[str, np.ndarray] | None = None
        for t in self.targets:
            t.pattern.mask(t.module.weight.detach(), t.sparsity, seed=t.seed)  # fail now on impossible layers
            parametrize.register_parametrization(t.module, "weight", _Mask(t.module.weight.shape))
            if t.masks_bias:
                parametrize.register_parametrization(t.module, "bias", _Mask(t.module.bias.shape))

    # -- the training-loop API --------------------------------------------------------------------
    def step(self) -> float:
        """Advance the schedule one step and recompute masks; returns the mean target sparsity now."""
        if self.finalized is not None:
            raise PatternError("step() after finalize(): the masks are already applied")
        if self.schedule.done(self.step_count):
            self.step_count += 1
            return float(np.mean([t.history[-1] if t.history else 0.0 for t in self.targets] or [0.0]))
        self.step_count += 1
        for t in self.targets:
            s = self.schedule.sparsity_at(self.step_count, t.sparsity)
            self._set_mask(t, s)
        return float(np.mean([t.history[-1] for t in self.targets] or [0.0]))

    def finalize(self) -> dict[str, np.ndarray]:
        """Bake the masks into the weights, remove the parametrizations, check every invariant.

        Returns {module name: bool mask}. Before the schedule is done the final masks are forced.
        """
        if self.finalized is not None:
            return self.finalized
        if not self.schedule.done(self.step_count):
            for t in self.targets:
                self._set_mask(t, t.sparsity)
        masks = self.masks()
        for t in self.targets:
            t.pattern.check(masks[t.name])
            parametrize.remove_parametrizations(t.module, "weight", leave_parametrized=True)
            if t.masks_bias:
                parametrize.remove_parametrizations(t.module, "bias", leave_parametrized=True)
        self.finalized = masks
        return masks

    def apply_masks(self, masks: Mapping[str, torch.Tensor | np.ndarray]) -> None:
        """Install given masks (e.g. ADMM's projection) as the final ones; each must pass its check."""
        if set(masks) != {t.name for t in self.targets}:
            raise PatternError(f"masks for {sorted(masks)} do not match the pruned layers "
                               f"{sorted(t.name for t in self.targets)}")
        for t in self.targets:
            mask = torch.as_tensor(np.asarray(masks[t.name], dtype=bool))
            t.pattern.check(mask.numpy())
            self._install(t, mask)
            t.history.append(float(1.0 - mask.double().mean()))
        self.step_count = max(self.step_count, 1)
        self.schedule = OneShot()

    # -- inspection -------------------------------------------------------------------------------
    def masks(self) -> dict[str, np.ndarray]:
        """Current bool masks by module name."""
        if self.finalized is not None:
            return dict(self.finalized)
        return {t.name: t.module.parametrizations.weight[0].mask.numpy().copy() for t in self.targets}

    def original(self, name: str) -> torch.Tensor:
        """The un-masked weight the optimizer updates (masks are drawn from it)."""
        t = self._target(name)
        return t.module.parametrizations.weight.original

    def report(self) -> list[dict[str, Any]]:
        """Per layer: pattern, target and reached sparsity, metadata bits per kept weight."""
        rows = []
        for name, mask in self.masks().items():
            t = self._target(name)
            shape = tuple(mask.shape)
            rows.append({
                "layer": name, "pattern": t.pattern.name, "target": t.sparsity,
                "reached": float(1.0 - mask.mean()), "kept": int(mask.sum()), "weights": int(mask.size),
                "metadata_bits_per_kept_weight": t.pattern.metadata_bits_per_kept_weight(shape, t.sparsity),
                "layout": t.pattern.layout(shape, t.sparsity),
            })
        return rows

    # -- internals --------------------------------------------------------------------------------
    def _target(self, name: str) -> LayerTarget:
        for t in self.targets:
            if t.name == name:
                return t
        raise PatternError(f"layer {name!r} is not pruned; pruned layers: {', '.join(x.name for x in self.targets)}")

    @staticmethod
    def _install(t: LayerTarget, mask: torch.Tensor) -> None:
        with torch.no_grad():
            t.module.parametrizations.weight[0].mask.copy_(mask)
            if t.masks_bias:
                t.module.parametrizations.bias[0].mask.copy_(mask.reshape(mask.shape[0], -1).any(dim=1))

    def _set_mask(self, t: LayerTarget, sparsity: float) -> None:
        original = t.module.parametrizations.weight.original
        self._install(t, t.pattern.mask(original.detach(), sparsity, seed=t.seed + self.step_count))
        t.history.append(float(sparsity))
        log.debug("%s: %s at sparsity %.3f (step %d)", t.name, t.pattern.name, sparsity, self.step_count)
