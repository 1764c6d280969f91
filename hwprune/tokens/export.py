"""ONNX export of the digits ViT with every selector as one custom-domain node ``hwprune.TokenSelector``.

Node contract (what ``hwprune.tokens.onnx_handler`` reads):
  inputs   tokens [1, T, D] float (class token first), package_present [1] int64 (0/1: is the last row a
           package token), then the selector's 12 weights in ``SELECTOR_PARAMS`` order (initializers);
  outputs  tokens [1, T', D] (class, kept, package last if any; T' ≤ T, data-dependent), package_present [1];
  attrs    heads (int), threshold (float, 0.5).
The package flag travels as a tensor, not an attribute, because whether selector 1 fused anything depends
on the image. onnxruntime cannot run the node; ``onnx.reference`` can, with ``TokenSelectorRun``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx.reference.op_run import OpRun

from hwprune.tokens.selector import KEEP_THRESHOLD, TokenSelector, compact_tokens
from hwprune.tokens.vit import DigitsViT

__all__ = ["DOMAIN", "OP_TYPE", "SELECTOR_PARAMS", "export_vit_onnx", "export_token_model", "apply_selector",
           "TokenSelectorRun", "run_selector_node"]

DOMAIN, OP_TYPE = "hwprune", "TokenSelector"
SELECTOR_PARAMS = ("local.weight", "local.bias", "score1.weight", "score1.bias", "score2.weight", "score2.bias",
                   "score3.weight", "score3.bias", "head1.weight", "head1.bias", "head2.weight", "head2.bias")


def run_selector_node(tokens: torch.Tensor, package: torch.Tensor, heads: int,
                      params: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The node's semantics in torch (float selector + ``compact_tokens``), batch of one."""
    dim = int(tokens.shape[-1])
    selector = TokenSelector(dim, heads)
    with torch.no_grad():
        named = dict(selector.named_parameters())
        for name, value in zip(SELECTOR_PARAMS, params):
            named[name].copy_(value)
        score = selector(tokens[:, 1:].to(torch.float32))[0]
    step = compact_tokens(tokens[0], score, bool(int(package.reshape(-1)[0])), KEEP_THRESHOLD)
    return step.tokens[None], torch.tensor([int(step.has_package)], dtype=torch.int64)


class _SelectorFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tokens, package, heads, *params):  # type: ignore[override]  # noqa: ANN001, ANN205
        return run_selector_node(tokens, package, heads, list(params))

    @staticmethod
    def symbolic(g, tokens, package, heads, *params):  # noqa: ANN001, ANN205
        dim = int(params[SELECTOR_PARAMS.index("local.weight")].type().sizes()[1]) * heads
        out, flag = g.op(f"{DOMAIN}::{OP_TYPE}", tokens, package, *params, heads_i=heads,
                         threshold_f=KEEP_THRESHOLD, outputs=2)
        out.setType(tokens.type().with_dtype(torch.float32).with_sizes([1, None, dim]))
        flag.setType(package.type().with_dtype(torch.int64).with_sizes([1]))
        return out, flag


def apply_selector(selector: TokenSelector, tokens: torch.Tensor,
                   package: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``selector`` as the node's semantics (eager) that exports as one ``hwprune.TokenSelector`` node.

    Use it in the ``forward`` of any module given to ``export_token_model``; ``package`` is int64 [1].
    """
    params = [dict(selector.named_parameters())[n] for n in SELECTOR_PARAMS]
    return _SelectorFn.apply(tokens, package, selector.heads, *params)


class _Exportable(torch.nn.Module):
    def __init__(self, model: DigitsViT) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        t = m.embed(x)
        package = torch.zeros(1, dtype=torch.int64)
        for index, block in enumerate(m.blocks):
            if m.use_selectors and str(index) in m.selectors:
                sel = m.selectors[str(index)]
                t, package = apply_selector(sel, t, package)
            t = block(t)
        return m.classify(t)


def export_vit_onnx(model: DigitsViT, path: str | Path, opset: int = 17) -> onnx.ModelProto:
    """Export ``model`` (batch 1, input [1, 64]) and re-save it without free-text fields (byte-stable)."""
    model.eval()
    example = torch.zeros(1, model.cfg.image * model.cfg.image)
    return export_token_model(_Exportable(model), example, path, "input", "logits", opset)


def export_token_model(module: torch.nn.Module, example: torch.Tensor, path: str | Path,
                       input_name: str = "input", output_name: str = "output",
                       opset: int = 17) -> onnx.ModelProto:
    """Export any module whose selectors go through ``apply_selector`` (one input, one output, batch 1),
    re-saved without free-text fields so that the same module always gives the same bytes."""
    with torch.no_grad(), warnings.catch_warnings():
        # the selector's data-dependent branches live inside the custom node, so the tracer's
        # "might not generalize" warnings about them do not apply to the exported graph
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[input_name], output_names=[output_name],
                          custom_opsets={DOMAIN: 1})
    proto = onnx.load(str(path))
    proto.doc_string = ""
    proto.graph.doc_string = ""
    for node in proto.graph.node:
        node.doc_string = ""
    Path(path).write_bytes(proto.SerializeToString(deterministic=True))
    return proto


class _SelectorRun(OpRun):
    """``onnx.reference`` implementation of the custom node (for checking exports without onnxruntime)."""

    op_domain = DOMAIN

    def _run(self, tokens, package, *params, heads=None, threshold=None):  # noqa: ANN001, ANN202
        out, flag = run_selector_node(torch.from_numpy(np.array(tokens)), torch.from_numpy(np.array(package)),
                                      int(heads), [torch.from_numpy(np.array(p)) for p in params])
        return out.numpy(), flag.numpy()


TokenSelectorRun = type(OP_TYPE, (_SelectorRun,), {})  # onnx.reference finds new ops by class name
