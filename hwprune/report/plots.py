"""The report's plots, drawn with matplotlib's Agg renderer and returned as base64 PNG data URIs.

Why this shape: ``report.html`` must be one self-contained file (no CDN, no sibling images) and
byte-identical for an identical ``report.json`` (docs/architecture.md section 7). So every figure is built on a
bare ``matplotlib.figure.Figure`` (no pyplot: no global backend switch, no state shared with the
caller), under matplotlib's default style with a fixed hash salt, at a fixed size and DPI, and saved
without the PNG ``Software`` tag, which would change with the matplotlib version.
"""

from __future__ import annotations

import base64
import io
import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from hwprune.cache import use_tool_caches

__all__ = ["cycles_chart", "storage_chart", "resources_chart", "mask_heatmap", "heatmap_grid", "DPI"]

DPI = 96
"""Pixels per inch of every figure: small files, sharp enough on screen."""

MAX_HEATMAP_CELLS = 256
"""Largest mask side drawn cell by cell; bigger masks are shown as the kept density of blocks."""

_BLUE, _ORANGE, _GREY, _RED = "#4c72b0", "#dd8452", "#bbbbbb", "#c44e52"


@contextmanager
def _style() -> Iterator[None]:
    """matplotlib's defaults, whatever the user's matplotlibrc says, plus a fixed hash salt."""
    use_tool_caches()  # matplotlib's font cache goes under hwprune's cache root, not ~/.config
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update({"svg.hashsalt": "hwprune", "font.size": 9, "axes.titlesize": 10})
        yield


def _figure(width: float, height: float):  # -> matplotlib.figure.Figure (import kept lazy)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _data_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(name: str, width: int = 28) -> str:
    """Layer names like ``/fc0/weight_quant/…/Gemm`` are long; keep their informative tail."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def cycles_chart(names: Sequence[str], compute: Sequence[int], interval: Sequence[int] | None = None) -> str:
    """Horizontal bars of compute cycles per layer, with the cycle model's initiation interval beside."""
    with _style():
        fig = _figure(7.0, 1.2 + 0.35 * len(names) * (2 if interval else 1))
        ax = fig.add_subplot()
        y = np.arange(len(names))
        height = 0.4 if interval else 0.7
        offset = height / 2 if interval else 0
        ax.barh(y - offset, compute, height=height, color=_BLUE, label="compute cycles")
        if interval:
            ax.barh(y + offset, interval, height=height, color=_ORANGE,
                    label="initiation interval (cycle model)")
            ax.legend(loc="lower right")
        ax.set_yticks(y, [_short(n) for n in names])
        ax.invert_yaxis()
        ax.set_xlabel("cycles per inference")
        ax.set_title("Cycle breakdown per layer")
        ax.grid(axis="x", alpha=0.3)
        return _data_uri(fig)


def storage_chart(names: Sequence[str], value_bits: Sequence[int], metadata_bits: Sequence[int],
                  dense_bits: Sequence[int]) -> str:
    """Per layer: stored values + metadata (stacked) next to the dense weight storage, in kbit."""
    with _style():
        fig = _figure(7.0, 1.2 + 0.6 * len(names))
        ax = fig.add_subplot()
        y = np.arange(len(names))
        kbit = lambda bits: np.asarray(bits, dtype=float) / 1000.0  # noqa: E731
        ax.barh(y - 0.2, kbit(value_bits), height=0.4, color=_BLUE, label="values")
        ax.barh(y - 0.2, kbit(metadata_bits), height=0.4, left=kbit(value_bits), color=_ORANGE,
                label="metadata")
        ax.barh(y + 0.2, kbit(dense_bits), height=0.4, color=_GREY, label="dense")
        ax.set_yticks(y, [_short(n) for n in names])
        ax.invert_yaxis()
        ax.set_xlabel("kbit")
        ax.set_title("Weight storage: values + metadata vs dense")
        ax.legend(loc="lower right")
        ax.grid(axis="x", alpha=0.3)
        return _data_uri(fig)


def resources_chart(resources: Sequence[str], series: dict[str, Sequence[float]],
                    max_util: float | None) -> str:
    """Grouped bars of utilisation (% of the board's budget) per resource, one bar per estimate."""
    with _style():
        fig = _figure(7.0, 3.0)
        ax = fig.add_subplot()
        x = np.arange(len(resources))
        width = 0.8 / max(1, len(series))
        colours = [_BLUE, _ORANGE, _GREY]
        for i, (label, values) in enumerate(series.items()):
            ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width=width, label=label,
                   color=colours[i % len(colours)])
        if max_util is not None:
            ax.axhline(100.0 * max_util, color=_RED, linestyle="--", linewidth=1,
                       label=f"fitting margin ({100 * max_util:g} %)")
        ax.axhline(100.0, color="black", linewidth=0.8)
        ax.set_xticks(x, list(resources))
        ax.set_ylabel("% of the board")
        ax.set_title("Resources vs the board's budget")
        ax.legend(loc="upper right")
        ax.grid(axis="y", alpha=0.3)
        return _data_uri(fig)


def _block_density(mask: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Mean of the mask over blocks so that neither side exceeds ``MAX_HEATMAP_CELLS``."""
    rows, cols = mask.shape
    br, bc = math.ceil(rows / MAX_HEATMAP_CELLS), math.ceil(cols / MAX_HEATMAP_CELLS)
    if br == 1 and bc == 1:
        return mask.astype(float), 1, 1
    padded = np.zeros((math.ceil(rows / br) * br, math.ceil(cols / bc) * bc), dtype=float)
    padded[:rows, :cols] = mask
    counts = np.zeros_like(padded)
    counts[:rows, :cols] = 1.0
    shape = (padded.shape[0] // br, br, padded.shape[1] // bc, bc)
    kept = padded.reshape(shape).sum(axis=(1, 3))
    real = counts.reshape(shape).sum(axis=(1, 3))
    return kept / np.maximum(real, 1.0), br, bc


def mask_heatmap(mask: np.ndarray, title: str) -> str:
    """Kept (dark) / pruned (light) weights of one ``[rows, K]`` mask; block density when large."""
    mask = np.asarray(mask, dtype=bool).reshape(mask.shape[0], -1)
    data, br, bc = _block_density(mask)
    with _style():
        aspect = data.shape[0] / max(1, data.shape[1])
        width = 6.0
        fig = _figure(width, min(6.0, max(1.6, width * aspect * 0.9 + 0.8)))
        ax = fig.add_subplot()
        image = ax.imshow(data, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
        ax.set_xlabel("input (K)" + (f", blocks of {bc}" if bc > 1 else ""))
        ax.set_ylabel("output row" + (f", blocks of {br}" if br > 1 else ""))
        ax.set_title(f"{_short(title, 48)}: {int(mask.sum())} / {mask.size} kept")
        if br > 1 or bc > 1:
            fig.colorbar(image, ax=ax, label="kept fraction")
        return _data_uri(fig)


def heatmap_grid(masks: dict[str, np.ndarray]) -> dict[str, str]:
    """One heat-map per layer name, in the given order."""
    return {name: mask_heatmap(mask, name) for name, mask in masks.items()}
