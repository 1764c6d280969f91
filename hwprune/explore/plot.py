"""pareto.png: every fitting point of a sweep, cycles against resources, the Pareto set outlined.

Same rules as the report's plots (``hwprune.report.plots``): a bare Figure on the Agg renderer under
matplotlib's defaults, a fixed size and DPI, and no ``Software`` tag, so the bytes follow the data.
"""

from __future__ import annotations

import io
from typing import Any

from hwprune.cache import use_tool_caches

__all__ = ["pareto_png"]

DPI = 96
MAX_LABELS = 12
"""Pareto points labelled with their configuration; beyond this, with their index."""


def pareto_png(data: dict[str, Any]) -> bytes:
    """The PNG bytes of the plot of an explore.json document."""
    use_tool_caches()  # matplotlib's font cache under hwprune's cache root (MPLCONFIGDIR)
    import matplotlib
    from matplotlib.figure import Figure

    points = [p for p in data["points"] if p.get("fits")]
    front = set(data["pareto"])
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update({"svg.hashsalt": "hwprune", "font.size": 9})
        fig = Figure(figsize=(7.0, 4.6), dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        x = [p["interval_cycles"] for p in points]
        y = [p["resource_cost"] for p in points]
        accuracy = "accuracy_loss" in data["objectives"]
        colour = [p.get("accuracy_loss", 0.0) for p in points] if accuracy else "#4c72b0"
        dots = ax.scatter(x, y, c=colour, cmap="viridis_r" if accuracy else None, s=22, zorder=2)
        if accuracy:
            fig.colorbar(dots, ax=ax, label="top-1 loss (points)")
        chosen = sorted((p for p in points if p["index"] in front), key=lambda p: (p["interval_cycles"],
                                                                                   p["resource_cost"]))
        ax.scatter([p["interval_cycles"] for p in chosen], [p["resource_cost"] for p in chosen], s=90,
                   facecolors="none", edgecolors="#c44e52", linewidths=1.4, zorder=3, label="Pareto set")
        for p in chosen:  # a long front gets point numbers only (explore.json has the rest)
            label = (f"#{p['index']}" if len(chosen) > MAX_LABELS else
                     f"{p['pattern']} {p['sparsity']:g} w{p['weight_bits']} L{p['lanes'] or 'auto'}")
            ax.annotate(label, (p["interval_cycles"], p["resource_cost"]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
        board = data["board"]["name"]
        unit = ("board shares of DSP + BRAM + LUT + FF" if data["board"]["part"] != "none"
                else "LUT + FF + multipliers")
        ax.set_xlabel(f"cycles per inference (steady state, {data['board']['pl_clock_mhz']:g} MHz clock)")
        ax.set_ylabel(f"resources ({unit})")
        ax.set_title(f"{data['model']['file']} on {board}: {len(points)} points, "
                     f"{len(chosen)} on the Pareto set")
        ax.grid(True, color="#dddddd", zorder=0)
        if chosen:
            ax.legend(loc="upper right")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
