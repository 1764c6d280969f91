"""HeatViT-style multi-head token selector (torch) and the float token compaction it drives.

Shape of the selector (hwprune's definition where HeatViT's public sources are silent, docs/tokens.md):
  - the candidate tokens (every token but the class token, the previous package token included) are split
    into ``heads`` chunks of ``head_dim`` channels; one set of weights is shared by all heads, so the
    selector is a handful of small GEMMs the MAC engine already runs;
  - local branch  l = GELU(Linear(d → d/2)(x_h)) per token and head;
  - global branch g = mean of l over the *present* candidate tokens, broadcast to every token;
  - score MLP     Linear(d → d/2)–GELU–Linear(d/2 → d/4)–GELU–Linear(d/4 → 2) on [l, g], softmax → p_h
    (probability of "keep" per head);
  - head importance w_h = sigmoid(MLP(mean over present tokens of x_h)), MLP d → d/4 → 1;
  - keep score s = Σ_h w_h·p_h / Σ_h w_h (if every w_h is 0, the plain mean of p_h).
Inference keeps a candidate when s ≥ 0.5; the class token is always kept; the pruned candidates and the
previous package token (always) are fused into one package token, the s-weighted average, emitted last.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TokenSelector", "SelectorTrace", "Compaction", "fuse_package", "compact_tokens", "KEEP_THRESHOLD"]

KEEP_THRESHOLD = 0.5


@dataclass
class SelectorTrace:
    """Every intermediate of one selector evaluation (calibration reads the ranges from here)."""

    x: torch.Tensor  # [B, H, T, d] input chunks
    local_pre: torch.Tensor  # [B, H, T, d/2] before GELU
    local: torch.Tensor  # [B, H, T, d/2]
    glob: torch.Tensor  # [B, H, 1, d/2]
    hidden1_pre: torch.Tensor  # [B, H, T, d/2]
    hidden2_pre: torch.Tensor  # [B, H, T, d/4]
    logits: torch.Tensor  # [B, H, T, 2] (keep, drop)
    head_in: torch.Tensor  # [B, H, d]
    head_hidden_pre: torch.Tensor  # [B, H, d/4]
    head_logit: torch.Tensor  # [B, H]
    head_prob: torch.Tensor  # [B, H, T] keep probability per head
    head_weight: torch.Tensor  # [B, H]
    score: torch.Tensor  # [B, T]


class TokenSelector(nn.Module):
    """Scores candidate tokens for keeping; see the module docstring for the structure."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim <= 0 or not isinstance(heads, int) or heads <= 0 or dim % heads:
            raise ValueError(f"dim must be a positive multiple of heads, not dim={dim!r}, heads={heads!r}")
        head_dim = dim // heads
        if head_dim < 4:
            raise ValueError(f"head dim (dim // heads) must be at least 4, not {head_dim}")
        self.dim, self.heads, self.head_dim = dim, heads, head_dim
        half, quarter = head_dim // 2, head_dim // 4  # rounded down for head dims not a multiple of 4
        self.local = nn.Linear(head_dim, half)
        self.score1 = nn.Linear(2 * half, half)
        self.score2 = nn.Linear(half, quarter)
        self.score3 = nn.Linear(quarter, 2)
        self.head1 = nn.Linear(head_dim, quarter)
        self.head2 = nn.Linear(quarter, 1)

    def trace(self, x: torch.Tensor, present: torch.Tensor | None = None) -> SelectorTrace:
        """Evaluate on candidates ``x`` [B, T, dim]; ``present`` [B, T] (1 = token exists) masks the means."""
        b, t, _ = x.shape
        if present is None:
            present = torch.ones(b, t, dtype=x.dtype, device=x.device)
        xh = x.reshape(b, t, self.heads, self.head_dim).transpose(1, 2)  # [B, H, T, d]
        weight = present[:, None, :, None]
        count = present.sum(dim=1).clamp(min=1.0)[:, None, None, None]
        local_pre = self.local(xh)
        local = F.gelu(local_pre)
        glob = (local * weight).sum(dim=2, keepdim=True) / count
        feats = torch.cat([local, glob.expand_as(local)], dim=-1)
        h1 = self.score1(feats)
        h2 = self.score2(F.gelu(h1))
        logits = self.score3(F.gelu(h2))
        head_prob = torch.softmax(logits, dim=-1)[..., 0]
        head_in = (xh * weight).sum(dim=2) / count[..., 0]
        head_hidden = self.head1(head_in)
        head_logit = self.head2(F.gelu(head_hidden))[..., 0]
        head_weight = torch.sigmoid(head_logit)
        score = weighted_head_mean(head_prob, head_weight)
        return SelectorTrace(xh, local_pre, local, glob, h1, h2, logits, head_in, head_hidden, head_logit,
                             head_prob, head_weight, score)

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """Keep score in [0, 1] per candidate token, [B, T]."""
        return self.trace(x, present).score


def weighted_head_mean(head_prob: torch.Tensor, head_weight: torch.Tensor) -> torch.Tensor:
    """Σ_h w_h·p_h / Σ_h w_h over heads ([B, H, T] and [B, H] → [B, T]); uniform weights if Σ w_h = 0."""
    total = head_weight.sum(dim=1, keepdim=True)
    w = torch.where(total > 0, head_weight, torch.ones_like(head_weight))
    return (w[:, :, None] * head_prob).sum(dim=1) / w.sum(dim=1)[:, None]


def fuse_package(tokens: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ w_i·x_i / Σ w_i over the rows of ``tokens`` [P, D]; the plain mean when Σ w_i = 0."""
    total = weights.sum()
    if float(total.detach()) <= 0.0:
        weights, total = torch.ones_like(weights), torch.tensor(float(weights.numel()), dtype=tokens.dtype)
    return (weights[:, None] * tokens).sum(dim=0) / total


@dataclass
class Compaction:
    """One selector's effect on one token sequence (batch of one)."""

    tokens: torch.Tensor  # [T_out, D]: class token, kept candidates in order, package token (if any) last
    keep: torch.Tensor  # [T_cand] bool over the candidates (previous package token: always False)
    score: torch.Tensor  # [T_cand] keep scores
    has_package: bool


def compact_tokens(
    tokens: torch.Tensor, score: torch.Tensor, has_package: bool, threshold: float = KEEP_THRESHOLD
) -> Compaction:
    """Drop candidates with score < threshold and fuse them (and the old package token) into one.

    ``tokens`` [T, D] holds the class token first and, when ``has_package``, the previous package token
    last; ``score`` [T − 1] scores every token after the class token. The output never has more tokens
    than the input: a package token appears only when at least one token is fused into it.
    """
    cand = tokens[1:]
    keep = score >= threshold
    if has_package:
        keep = keep.clone()
        keep[-1] = False  # the previous package token is always folded into the new one
    fused = ~keep
    parts = [tokens[:1], cand[keep]]
    if bool(fused.any()):
        parts.append(fuse_package(cand[fused], score[fused])[None, :])
    return Compaction(torch.cat(parts, dim=0), keep, score, bool(fused.any()))
