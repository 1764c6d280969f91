"""The digits ViT with integer selectors: calibration, keep-decision agreement, accuracy.

The transformer blocks stay float; at each selector the token stream is quantized to int8 at the
selector's input scale, the integer golden model (``hwprune.tokens.reference``) decides, compacts and
fuses, and the int8 result is dequantized for the next block — what an 8-bit selector in front of a
float (or separately quantized) backbone does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hwprune.tokens.reference import IntSelector, quantize_selector
from hwprune.tokens.selector import Compaction
from hwprune.tokens.vit import DigitsViT

__all__ = ["calibrate_int_selectors", "selector_inputs", "IntSelectFn", "AgreementResult", "measure_agreement"]


@torch.no_grad()
def selector_inputs(model: DigitsViT, x: torch.Tensor) -> dict[int, list[tuple[torch.Tensor, bool]]]:
    """(tokens, has_package) seen by each selector on the float compact path, per image."""
    seen: dict[int, list[tuple[torch.Tensor, bool]]] = {b: [] for b in model.cfg.selector_blocks}

    def spy(index: int, tokens: torch.Tensor, has_package: bool) -> Compaction:
        seen[index].append((tokens.clone(), has_package))
        return model.float_select(index, tokens, has_package)

    for image in x:
        model.forward_compact(image, spy)
    return seen


@torch.no_grad()
def calibrate_int_selectors(model: DigitsViT, x: torch.Tensor) -> dict[int, IntSelector]:
    """Quantize every selector from the candidate sets it sees on the images ``x`` (float path)."""
    seen = selector_inputs(model, x)
    return {b: quantize_selector(model.selectors[str(b)], [t[1:] for t, _ in seen[b]]) for b in seen}


class IntSelectFn:
    """A ``SelectFn`` for ``DigitsViT.forward_compact`` that runs the integer selectors."""

    def __init__(self, selectors: dict[int, IntSelector]) -> None:
        self.selectors = selectors

    def __call__(self, index: int, tokens: torch.Tensor, has_package: bool) -> Compaction:
        sel = self.selectors[index]
        step = sel.select(sel.quantize(tokens), has_package)
        score = step.score.to(torch.float64) / (step.weight_sum << sel.softmax.frac_bits)
        return Compaction((step.tokens.to(torch.float64) * sel.in_scale).to(tokens.dtype), step.keep,
                          score.to(tokens.dtype), step.has_package)


@dataclass(frozen=True)
class AgreementResult:
    """Integer vs float selectors on the same images."""

    float_accuracy: float  # % top-1, float selectors
    int_accuracy: float  # % top-1, integer selectors in the loop
    agreement: tuple[float, ...]  # per selector: % of candidates with the same keep decision (same input)
    float_keep: tuple[float, ...]  # per selector: mean fraction of patch tokens alive after it (float path)
    int_keep: tuple[float, ...]  # the same, integer path
    package_err_lsb: tuple[float, ...]  # per selector: max |int − float package| in input LSBs, images with equal decisions


@torch.no_grad()
def measure_agreement(model: DigitsViT, selectors: dict[int, IntSelector], x: torch.Tensor,
                      y: torch.Tensor) -> AgreementResult:
    """Decisions compared on the float path's selector inputs; accuracies end to end on both paths."""
    model.eval()
    blocks = list(model.cfg.selector_blocks)
    n = model.cfg.tokens
    same = {b: 0 for b in blocks}
    total = {b: 0 for b in blocks}
    pkg_err = {b: 0.0 for b in blocks}
    int_fn = IntSelectFn(selectors)
    correct_f = correct_i = 0
    alive_f = {b: 0.0 for b in blocks}
    alive_i = {b: 0.0 for b in blocks}

    for image, label in zip(x, y):
        def spy(index: int, tokens: torch.Tensor, has_package: bool) -> Compaction:
            step = model.float_select(index, tokens, has_package)
            other = int_fn(index, tokens, has_package)
            same[index] += int((step.keep == other.keep).sum())
            total[index] += step.keep.numel()
            if step.has_package and bool((step.keep == other.keep).all()):  # same fused set: compare values
                err = (step.tokens[-1] - other.tokens[-1]).abs().max() / selectors[index].in_scale
                pkg_err[index] = max(pkg_err[index], float(err))
            alive_f[index] += int(step.keep.sum()) / n
            return step

        logits, _ = model.forward_compact(image, spy)
        correct_f += int(int(logits.argmax()) == int(label))
        logits_i, steps_i = model.forward_compact(image, int_fn)
        correct_i += int(int(logits_i.argmax()) == int(label))
        for b, step in zip(blocks, steps_i):
            alive_i[b] += int(step.keep.sum()) / n
    count = len(x)
    return AgreementResult(
        100.0 * correct_f / count, 100.0 * correct_i / count,
        tuple(100.0 * same[b] / max(1, total[b]) for b in blocks),
        tuple(alive_f[b] / count for b in blocks), tuple(alive_i[b] / count for b in blocks),
        tuple(pkg_err[b] for b in blocks),
    )
