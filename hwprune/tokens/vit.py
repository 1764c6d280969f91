"""A small ViT for the 8×8 digits with HeatViT token selectors before chosen blocks.

Defaults: 2×2 patches → 16 patch tokens + a class token, embedding 64, 4 heads of 16, 6 pre-norm blocks,
MLP hidden 128, selectors before blocks 2 and 4 (0-based: the third and the fifth block).

Why 4 heads and not 3: 64 is not a multiple of 3, and the selector splits every token into per-head chunks
exactly as attention does. 4 × 16 keeps every width a power of two (the per-head means become shifts, lanes
divide evenly); ``ViTConfig(dim=66, heads=3)`` (3 × 22) is accepted too for a HeatViT-like head count.

Two equivalent evaluation paths:
  - ``forward`` keeps the full sequence plus one package slot ([cls, 16 patches, package] = 18 rows) and a
    per-token mask: attention ignores masked keys. Training uses it (Gumbel-softmax masks, straight-through);
  - ``forward_compact`` runs one image with the tokens really removed and the package token appended, as the
    hardware does. In eval mode both give the same logits (tests/unit/test_tokens_vit.py checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from hwprune.tokens.selector import KEEP_THRESHOLD, Compaction, TokenSelector, compact_tokens

__all__ = ["ViTConfig", "DigitsViT", "SelectFn", "MaskedOutput"]

SelectFn = Callable[[int, torch.Tensor, bool], Compaction]
"""(block index, tokens [T, D], has_package) → Compaction: pluggable so the integer selector can stand in."""


@dataclass(frozen=True)
class ViTConfig:
    """Shape of the digits ViT; every field is one architectural choice."""

    image: int = 8  # input images are image × image, one channel
    patch: int = 2  # patch side: (image / patch)² patch tokens
    dim: int = 64  # embedding width
    heads: int = 4  # attention and selector heads (dim must be a multiple)
    depth: int = 6  # transformer blocks
    mlp_hidden: int = 128  # hidden width of each block's MLP
    classes: int = 10
    selector_blocks: tuple[int, ...] = field(default=(2, 4))  # a selector runs before each of these blocks

    def __post_init__(self) -> None:
        if self.image % self.patch:
            raise ValueError(f"image ({self.image}) must be a multiple of patch ({self.patch})")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be a multiple of heads ({self.heads})")
        bad = [b for b in self.selector_blocks if not 0 < b < self.depth]
        if bad or list(self.selector_blocks) != sorted(set(self.selector_blocks)):
            raise ValueError(f"selector_blocks must be increasing block indices in 1..{self.depth - 1}, "
                             f"not {self.selector_blocks!r}")

    @property
    def tokens(self) -> int:
        return (self.image // self.patch) ** 2


class Attention(nn.Module):
    """Multi-head self-attention that can ignore masked keys (hard in eval, straight-through in training)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.record = False  # when set, keep the class token's attention (mean over heads) in ``cls_attention``
        self.cls_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        if mask is None:
            attn = torch.softmax(logits, dim=-1)
        elif self.training:
            m = mask[:, None, None, :]
            top = logits.masked_fill(m < 0.5, float("-inf")).amax(dim=-1, keepdim=True).detach()
            e = torch.exp((logits - top).clamp(max=0.0)) * m  # masked keys: finite × 0, gradient to the mask
            attn = e / (e.sum(dim=-1, keepdim=True) + 1e-6)
        else:
            attn = torch.softmax(logits.masked_fill(mask[:, None, None, :] < 0.5, float("-inf")), dim=-1)
        if self.record:
            self.cls_attention = attn[:, :, 0].mean(dim=1).detach()
        return self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp_hidden)
        self.fc2 = nn.Linear(cfg.mlp_hidden, cfg.dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


@dataclass
class MaskedOutput:
    """Logits plus, per selector, which patch tokens are still alive [B, N] and the scores [B, N + 1]."""

    logits: torch.Tensor
    keep: list[torch.Tensor]
    scores: list[torch.Tensor]


def gumbel_keep(score: torch.Tensor, noise: float, tau: float) -> torch.Tensor:
    """Hard keep decisions with straight-through gradients: keep iff logit(s) + noise·(g₁ − g₂) ≥ 0.

    g₁ − g₂ of two Gumbel samples is logistic noise, so ``noise`` = 1 is the Gumbel-softmax sample of
    Bernoulli(s); shrinking ``noise`` towards 0 during training turns the samples into the inference rule
    (s ≥ 0.5), so the keep ratio the penalty sees is the one inference will have. The gradient is that of
    sigmoid((logit(s) + noise·L)/tau).
    """
    s = score.clamp(1e-6, 1 - 1e-6)
    u = torch.rand_like(s).clamp(1e-6, 1 - 1e-6)
    z = (s.log() - (1 - s).log()) + noise * (u.log() - (1 - u).log())
    soft = torch.sigmoid(z / tau)
    hard = (z >= 0).to(s.dtype)
    return hard + soft - soft.detach()


class DigitsViT(nn.Module):
    """The digits ViT; ``use_selectors`` switches the selectors off (the unpruned baseline, same weights)."""

    def __init__(self, cfg: ViTConfig = ViTConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Linear(cfg.patch * cfg.patch, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + cfg.tokens, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.classes)
        self.selectors = nn.ModuleDict({str(b): TokenSelector(cfg.dim, cfg.heads) for b in cfg.selector_blocks})
        self.use_selectors = True
        self.gumbel_tau = 1.0  # temperature of the straight-through relaxation
        self.gumbel_noise = 1.0  # scale of the Gumbel noise: 1 samples keep ~ Bernoulli(s), 0 is the s ≥ 0.5 rule

    # -- shared pieces -------------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 64] or [B, 1, 8, 8] images → [B, 1 + N, dim] tokens (class token first)."""
        c = self.cfg
        g = c.image // c.patch
        img = x.reshape(-1, g, c.patch, g, c.patch).permute(0, 1, 3, 2, 4).reshape(-1, g * g, c.patch * c.patch)
        tokens = self.patch_embed(img)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed

    def classify(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(tokens[:, 0]))

    # -- masked (batched, trainable) path -------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_masked(x).logits

    def forward_masked(self, x: torch.Tensor) -> MaskedOutput:
        t = self.embed(x)
        b, n = t.shape[0], self.cfg.tokens
        mask: torch.Tensor | None = None  # none until the first selector adds the package slot
        keeps, scores = [], []
        for index, block in enumerate(self.blocks):
            if self.use_selectors and str(index) in self.selectors:
                if mask is None:
                    t = torch.cat([t, t.new_zeros(b, 1, self.cfg.dim)], dim=1)  # empty package slot
                    mask = torch.cat([t.new_ones(b, 1 + n), t.new_zeros(b, 1)], dim=1)
                t, mask, score = self._select_masked(self.selectors[str(index)], t, mask)
                keeps.append(mask[:, 1 : 1 + n])
                scores.append(score)
            t = block(t, mask)
        return MaskedOutput(self.classify(t), keeps, scores)

    def _select_masked(
        self, selector: TokenSelector, t: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = self.cfg.tokens
        cand, present = t[:, 1:], mask[:, 1:]
        score = selector(cand, present)
        if self.training:
            decide = gumbel_keep(score, self.gumbel_noise, self.gumbel_tau)
        else:
            decide = (score >= KEEP_THRESHOLD).to(t.dtype)
        keep = torch.cat([decide[:, :n] * present[:, :n], present.new_zeros(t.shape[0], 1)], dim=1)
        fused = present * (1 - keep)  # pruned patch tokens and the previous package token
        weights = score * fused
        total = weights.sum(dim=1, keepdim=True)
        weights = torch.where(total > 0, weights, fused)  # plain mean when every weight is 0
        total = weights.sum(dim=1, keepdim=True).clamp(min=1e-12)
        package = (weights[..., None] * cand).sum(dim=1, keepdim=True) / total[..., None]
        has_package = (fused.detach().sum(dim=1, keepdim=True) > 0).to(t.dtype)
        new_mask = torch.cat([mask[:, :1], keep[:, :n], has_package], dim=1)
        return torch.cat([t[:, : 1 + n], package], dim=1), new_mask, score

    @torch.no_grad()
    def token_importance(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Class-token attention to each patch token [B, N] in every selector block, selectors off.

        The training's auxiliary target: how much the unpruned model's class token reads each patch.
        """
        was, self.use_selectors = self.use_selectors, False
        blocks = [self.blocks[b] for b in self.cfg.selector_blocks]
        for block in blocks:
            block.attn.record = True
        try:
            self.forward_masked(x)
            return {b: self.blocks[b].attn.cls_attention[:, 1:] for b in self.cfg.selector_blocks}
        finally:
            for block in blocks:
                block.attn.record = False
            self.use_selectors = was

    # -- compacted (hardware-like) path ---------------------------------------------------------------
    def float_select(self, index: int, tokens: torch.Tensor, has_package: bool) -> Compaction:
        score = self.selectors[str(index)](tokens[None, 1:])[0]
        return compact_tokens(tokens, score, has_package)

    def forward_compact(self, x: torch.Tensor, select: SelectFn | None = None) -> tuple[torch.Tensor, list[Compaction]]:
        """One image ([64] or [1, 64]) with tokens really removed; returns logits [1, classes]."""
        select = select or self.float_select
        t = self.embed(x.reshape(1, -1))[0]
        has_package = False
        steps: list[Compaction] = []
        for index, block in enumerate(self.blocks):
            if self.use_selectors and str(index) in self.selectors:
                step = select(index, t, has_package)
                if step.tokens.shape[0] > t.shape[0]:
                    raise AssertionError("a token selector must never add tokens")
                t, has_package = step.tokens, step.has_package
                steps.append(step)
            t = block(t[None])[0]
        return self.classify(t[None]), steps
