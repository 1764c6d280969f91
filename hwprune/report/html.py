"""``report.html``: one self-contained page a hardware engineer can read, regenerated from a build directory.

Why it reads the build directory rather than the pipeline's objects: the report is the last stage
(docs/architecture.md section 1) and must be rebuildable alone (``hwprune report BUILD_DIR``) from the JSON
checkpoints — ``report.json`` (required), ``kernels.json`` (parallelism, the analytic resource model
and the cycle model) and ``ir.json`` (the masks). The page is a Jinja2 template
(``templates/report.html.j2``) with matplotlib figures inlined as base64 PNG, no script and no
external resource; the same inputs give byte-identical HTML, and it is replaced atomically.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from hwprune import __version__
from hwprune.boards import Board
from hwprune.errors import HwpruneError
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.report import plots

__all__ = ["ReportError", "write_html_report", "render_html", "load_build", "SECTIONS"]

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"), ("layers", "Layers"), ("masks", "Masks"), ("resources", "Resources"),
    ("cycles", "Cycles"), ("performance", "Latency & throughput"), ("storage", "Storage"),
)
"""Every section of the page as (HTML id, title): tests and the browser check look for these ids."""

class ReportError(HwpruneError):
    """The build directory has no readable report.json (or a checkpoint in it is corrupt)."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read: {exc.strerror}", file=path) from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"not valid JSON: {exc.msg} (line {exc.lineno})", file=path) from None


def load_build(build_dir: Path) -> tuple[dict[str, Any], list[KernelSpec] | None, dict[str, np.ndarray]]:
    """(report.json, the KernelSpecs if kernels.json exists, the mask of every pruned layer)."""
    report_path = build_dir / "report.json"
    if not report_path.is_file():
        raise ReportError("no report.json here (is this a build directory written by `hwprune compile`?)",
                          file=build_dir)
    report = _read_json(report_path)
    kernels = None
    if (build_dir / "kernels.json").is_file():
        try:
            kernels = [KernelSpec.from_dict(k) for k in _read_json(build_dir / "kernels.json")["kernels"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportError(f"malformed kernel entry: {exc}", file=build_dir / "kernels.json") from None
    return report, kernels, _masks(build_dir, report, kernels)


def _pruned_names(report: dict[str, Any]) -> list[str]:
    return [layer["name"] for layer in report.get("layers", [])
            if layer.get("kernel", {}).get("pattern", "dense") != "dense"]


def _masks(build_dir: Path, report: dict[str, Any],
           kernels: list[KernelSpec] | None) -> dict[str, np.ndarray]:
    """Masks of the pruned layers as ``[rows, K]``: ir.json's ``mask`` (else the non-zeros of the
    weight), or, without ir.json, the kept positions of the packed kernel."""
    wanted = _pruned_names(report)
    masks: dict[str, np.ndarray] = {}
    ir_path = build_dir / "ir.json"
    if ir_path.is_file():
        from hwprune.ir.graph import Graph

        try:
            graph = Graph.from_json(ir_path.read_text(encoding="utf-8"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ReportError(f"cannot read the IR: {exc}", file=ir_path) from None
        for node in graph.nodes:
            if node.op not in ("Dense", "Conv"):
                continue
            weight = graph.tensor(node.inputs[1])
            pattern = weight.sparsity.kind if weight.sparsity is not None else "dense"
            pruned = weight.mask is not None or pattern != "dense"
            if node.name in wanted or pruned:
                mask = weight.mask if weight.mask is not None else np.asarray(weight.data) != 0
                masks[node.name] = np.asarray(mask, dtype=bool).reshape(weight.shape[0], -1)
    for spec in kernels or []:
        if spec.name in wanted and spec.name not in masks:
            masks[spec.name] = spec.weights.unpack()[1]
    order = [layer["name"] for layer in report.get("layers", [])]
    return {name: masks[name] for name in order if name in masks}


def _board(data: dict[str, Any]) -> Board:
    """The board as recorded in report.json (missing numeric fields count as 'no ceiling')."""
    values = {f.name: data.get(f.name, 0 if f.type in ("int", "float") else "") for f in fields(Board)}
    return Board(**values)


def _shape(shape: list[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _layer_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for layer in report.get("layers", []):
        row = {"name": layer["name"], "op": layer["op"], "macs": layer.get("macs", 0),
               "nonzero_macs": layer.get("nonzero_macs", 0), "weights": layer.get("weights"),
               "nonzero_weights": layer.get("nonzero_weights"), "kernel": layer.get("kernel"),
               "input_shapes": " ".join(_shape(shape) for shape in layer.get("input_shapes", [])),
               "output_shape": _shape(layer.get("output_shape", [])),
               "weight_shape": _shape(layer["weight_shape"]) if "weight_shape" in layer else "",
               "sparsity": None, "storage_bits": None, "dense_bits": None, "value_bits": None}
        if layer.get("weights"):
            row["sparsity"] = 1.0 - layer["nonzero_weights"] / layer["weights"]
        kernel = layer.get("kernel")
        if kernel and "weight_shape" in layer:
            rows_out = layer["weight_shape"][0]
            k_in = layer["weights"] // rows_out
            groups = math.ceil(k_in / kernel["group_size"])
            row["value_bits"] = rows_out * groups * kernel["kept_per_group"] * layer["weight_bits"]
            row["storage_bits"] = row["value_bits"] + kernel["metadata_bits"]
            row["dense_bits"] = layer["weight_storage_bits"]
        rows.append(row)
    return rows


def _yosys(report: dict[str, Any]) -> tuple[dict[str, float] | None, dict[str, dict[str, Any]], str | None]:
    """(totals, per-layer counts, family) from report.json's ``resources`` entry, if there is one.

    Accepted shapes: ``{"yosys": {...}}`` or the inner dict itself, holding either the counts
    directly (``Resources.to_dict()``) or ``total``/``totals`` plus ``layers``/``kernels`` (a dict by
    layer name, or a list of dicts with ``name``)."""
    entry = report.get("resources")
    if not isinstance(entry, dict):
        return None, {}, None
    inner = entry.get("yosys", entry)
    if not isinstance(inner, dict):
        return None, {}, None
    total = inner.get("total") or inner.get("totals") or (inner if {"lut", "dsp"} & set(inner) else None)
    layers = inner.get("layers") or inner.get("kernels") or {}
    if isinstance(layers, list):
        layers = {item["name"]: item for item in layers if isinstance(item, dict) and "name" in item}
    family = inner.get("family") or (total or {}).get("family")
    return (_yosys_counts(total) if isinstance(total, dict) else None), layers, family


def _yosys_counts(res: dict[str, Any]) -> dict[str, float]:
    """Yosys's cells in the analytic model's units: BRAM18 tiles, LUTs including distributed RAM."""
    from hwprune.estimate.yosys import lutram_luts

    lutram = lutram_luts(res.get("by_type") or {})
    return {"dsp": res.get("dsp", 0), "bram18": res.get("bram18", 0) + 2 * res.get("bram36", 0),
            "lut": res.get("lut", 0) + lutram, "ff": res.get("ff", 0)}


def _resources(report: dict[str, Any], kernels: list[KernelSpec] | None,
               board: Board) -> dict[str, Any] | None:
    from hwprune.lower.resource_model import Estimate, budget, kernel_resources

    if kernels is None:
        return None
    family = board.yosys_family or "xcup"
    per_kernel = [(spec.name, kernel_resources(spec, family)) for spec in kernels]
    total = sum((e for _, e in per_kernel), start=Estimate())
    usage = total.usage()
    yosys_total, yosys_layers, yosys_family = _yosys(report)
    limits = budget(board)
    labels = {"dsp": "DSP", "bram18": "BRAM18", "lut": "LUT", "ff": "FF"}
    rows = []
    for key, label in labels.items():
        analytic, yosys, limit = usage[key], (yosys_total or {}).get(key), limits.get(key, 0)
        diff = None
        if yosys is not None:
            rel = f" ({100 * (yosys - analytic) / yosys:+.1f} %)" if yosys else ""
            diff = f"{int(yosys - analytic):+d}{rel}"
        rows.append({"key": key, "label": label, "analytic": analytic, "yosys": yosys, "difference": diff,
                     "budget": int(limit), "fraction": analytic / limit if limit else None,
                     "over": bool(limit) and analytic > limit})
    series = {"analytic": [100 * r["fraction"] for r in rows if r["budget"]]}
    if yosys_total:
        series["Yosys"] = [100 * r["yosys"] / r["budget"] for r in rows if r["budget"]]
    max_util = (report.get("fit") or {}).get("max_util")
    limited = [r["label"] for r in rows if r["budget"]]
    chart = plots.resources_chart(limited, series, max_util) if limits else None
    kernel_rows = []
    for name, est in per_kernel:
        ylayer = yosys_layers.get(name)
        counts = _yosys_counts(ylayer) if isinstance(ylayer, dict) else None
        kernel_rows.append({"name": name, "dsp": est.dsp, "bram18": est.bram18, "lut": est.lut,
                            "lutram": est.lutram, "ff": est.ff,
                            "yosys_dsp": counts["dsp"] if counts else None,
                            "yosys_lut": counts["lut"] if counts else None})
    inner = (report.get("resources") or {}).get("yosys") or {}
    glue, design = (inner.get(key) for key in ("network", "design"))
    return {"rows": rows, "chart": chart, "kernels": kernel_rows, "has_yosys": yosys_total is not None,
            "glue": _yosys_counts(glue) if isinstance(glue, dict) else None,
            "design": _yosys_counts(design) if isinstance(design, dict) else None,
            "has_yosys_layers": bool(yosys_layers), "yosys_family": yosys_family,
            "lutram": total.lutram}


def _cycles(report: dict[str, Any], kernels: list[KernelSpec] | None) -> list[dict[str, Any]]:
    """Compute cycles (report.json) and initiation interval (cycle model, when kernels are known)."""
    from hwprune.lower.fitting import layer_interval

    intervals = {spec.name: layer_interval(spec) for spec in kernels or []}
    rows = [{"name": layer["name"], "compute": layer["kernel"]["compute_cycles"],
             "interval": intervals.get(layer["name"], layer["kernel"]["compute_cycles"])}
            for layer in report.get("layers", []) if "kernel" in layer]
    latency = sum(r["interval"] for r in rows)
    for r in rows:
        r["share"] = r["interval"] / latency if latency else 0.0
    return rows


def _performance(cycles: list[dict[str, Any]], board: Board) -> dict[str, Any]:
    clock = float(board.pl_clock_mhz)
    latency = sum(r["interval"] for r in cycles)
    slowest = max(cycles, key=lambda r: r["interval"], default=None)
    interval = slowest["interval"] if slowest else 0
    return {"clock_mhz": clock, "latency_cycles": latency, "latency_us": latency / clock if clock else None,
            "interval": interval, "bottleneck": slowest["name"] if slowest else "—",
            "throughput": clock * 1e6 / interval if interval and clock else None}


def _storage(rows: list[dict[str, Any]]) -> dict[str, Any]:
    kernel_rows = [r for r in rows if r["storage_bits"] is not None]
    values = sum(r["value_bits"] for r in kernel_rows)
    metadata = sum(r["kernel"]["metadata_bits"] for r in kernel_rows)
    dense = sum(r["dense_bits"] for r in kernel_rows)
    chart = plots.storage_chart([r["name"] for r in kernel_rows], [r["value_bits"] for r in kernel_rows],
                                [r["kernel"]["metadata_bits"] for r in kernel_rows],
                                [r["dense_bits"] for r in kernel_rows]) if kernel_rows else None
    return {"value_bits": values, "metadata_bits": metadata, "dense_bits": dense,
            "ratio": (values + metadata) / dense if dense else None, "chart": chart}


def _num(value: Any, digits: int = 0) -> str:
    """Thousands-separated number; '—' for a missing one."""
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f} %"


def render_html(report: dict[str, Any], kernels: list[KernelSpec] | None = None,
                masks: dict[str, np.ndarray] | None = None) -> str:
    """The page's text for a loaded build (see ``load_build``)."""
    import jinja2

    board = _board(report.get("board", {}))
    rows = _layer_rows(report)
    cycles = _cycles(report, kernels)
    totals = dict(report.get("totals", {}))
    totals.setdefault("compute_cycles", sum(c["compute"] for c in cycles))
    for key in ("macs", "nonzero_macs", "weights", "nonzero_weights"):
        totals.setdefault(key, 0)
    totals["sparsity"] = 1.0 - totals["nonzero_weights"] / totals["weights"] if totals["weights"] else 0.0
    source = report.get("source", {})
    version = report.get("hwprune_version", __version__)
    origin = source.get("file") or report.get("model", "a model")
    env = jinja2.Environment(loader=jinja2.PackageLoader("hwprune.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pct=_pct)
    context = {
        "banner": f"Generated by hwprune {version} from {origin}: report.html. Do not edit.",
        "version": version, "model": report.get("model", "model"), "source_file": source.get("file"),
        "source_sha": source.get("sha256"), "board": board, "sections": SECTIONS, "layers": rows,
        "kernel_count": len(cycles), "totals": totals, "accuracy": sorted(report.get("accuracy", {}).items()),
        "masks": [(name, plots.mask_heatmap(mask, name)) for name, mask in (masks or {}).items()],
        "resources": _resources(report, kernels, board),
        "max_util": (report.get("fit") or {}).get("max_util"),
        "cycles": cycles, "cycles_chart": plots.cycles_chart([c["name"] for c in cycles],
                                                             [c["compute"] for c in cycles],
                                                             [c["interval"] for c in cycles]),
        "perf": _performance(cycles, board), "storage": _storage(rows),
    }
    return env.get_template("report.html.j2").render(context)


def write_html_report(build_dir: str | Path) -> Path:
    """Read the build directory's JSON files and (re)write ``build_dir/report.html`` atomically."""
    build_dir = Path(build_dir)
    report, kernels, masks = load_build(build_dir)
    text = render_html(report, kernels, masks)
    target = build_dir / "report.html"
    fd, tmp = tempfile.mkstemp(prefix=".report.html.", dir=build_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
