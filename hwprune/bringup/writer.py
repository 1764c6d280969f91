"""Write ``board/`` into a build directory: the Vivado block design, a Vitis HLS entry point, the
PYNQ driver, the bring-up notebook, the design facts and golden vectors, a README and a manifest.

Every text comes from a Jinja2 template in ``boards/templates/`` (shipped in the wheel); the notebook
is assembled with nbformat from one template file per cell (``boards/templates/notebook/NN-name.
{md,py}.j2``, the suffix giving the cell type), with fixed cell ids, so builds stay byte-identical.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2

from hwprune import __version__
from hwprune.boards import Board
from hwprune.bringup.design import DesignFacts, gather_facts, golden_values, read_golden
from hwprune.errors import BuildError
from hwprune.resources import shipped_dir

__all__ = ["write_bringup", "templates_dir", "notebook_cells", "BOARD_DIR", "FILE_ROLES"]

log = logging.getLogger(__name__)

BOARD_DIR = "board"
BLOCK_DESIGN = "hwprune_bd"
"""Name of the Vivado block design (and so of its wrapper, ``hwprune_bd_wrapper``)."""

FILE_ROLES = {
    "vivado_bd.tcl": "Vivado project + block design (PS, AXI DMA, accelerator), synthesis, implementation, "
                     "bitstream and .hwh",
    "vitis_hls.tcl": "runs ../hls/run_hls.tcl (Vitis HLS C-simulation, synthesis, IP export)",
    "driver.py": "PYNQ-style driver: board transport (pynq DMA) and simulation transport (Verilator)",
    "bringup.ipynb": "streams the golden vectors, asserts bit-exact outputs, prints throughput",
    "design.json": "what the driver reads: stream formats, DMA width, clock, overlay names",
    "golden.json": "golden vectors: integer-reference inputs and outputs, one vector per row",
    "README.md": "this overview",
    "manifest.json": "the files written here, and notes",
}


def templates_dir() -> Path:
    return shipped_dir("boards") / "templates"


def _one_line(text: str) -> str:
    """User text (file names) made safe in a Tcl/Python/Markdown comment: one line, no backslash
    (a Tcl comment ending in a backslash swallows the next line of code)."""
    return " ".join(str(text).replace("\\", "/").split())


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True, autoescape=False)
    env.filters["braced"] = lambda value: "{" + str(value) + "}"  # a Tcl word; ``{{`` would start Jinja
    return env


def _golden_text(case: dict[str, Any], facts: DesignFacts) -> str:
    """``golden.json`` with one vector of values per line (diffable, and small enough to read)."""
    def rows(values: Any) -> str:
        lines = [json.dumps([int(v) for v in row], separators=(",", ":")) for row in values]
        return "[\n  " + ",\n  ".join(lines) + "\n ]"

    inputs, expected = golden_values(case)
    head = {"format": "hwprune-golden/2", "vectors": facts.vectors, "in_values": facts.input.values,
            "out_values": facts.output.values, "source": "sim/network.case.json (integer reference)"}
    fields = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(head.items())]
    fields.append(f' "inputs": {rows(inputs)}')
    fields.append(f' "expected": {rows(expected)}')
    return "{\n" + ",\n".join(fields) + "\n}\n"


def notebook_cells() -> list[tuple[str, str]]:
    """(cell type, template name) of the notebook, in order (``markdown`` or ``code``)."""
    cells = []
    for path in sorted((templates_dir() / "notebook").iterdir()):
        name = path.name
        if name.endswith(".md.j2"):
            cells.append(("markdown", f"notebook/{name}"))
        elif name.endswith(".py.j2"):
            cells.append(("code", f"notebook/{name}"))
    if not cells:
        raise BuildError(f"no notebook cell templates in {templates_dir() / 'notebook'}")
    return cells


def _notebook(env: jinja2.Environment, context: dict[str, Any]) -> str:
    import nbformat
    from nbformat import v4

    cells = []
    for number, (kind, template) in enumerate(notebook_cells(), start=1):
        source = env.get_template(template).render(context).rstrip("\n")
        make = v4.new_markdown_cell if kind == "markdown" else v4.new_code_cell
        cells.append(make(source, id=f"cell-{number:02d}"))
    notebook = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(notebook)
    return nbformat.writes(notebook).rstrip("\n") + "\n"


DMA_STREAM_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)
"""``tdata`` widths the AXI DMA's stream sides can take (PG021)."""


def _block_design_notes(facts: DesignFacts) -> list[str]:
    """Why no block design can be written for these facts (empty: it can)."""
    if facts.ps_ip is None:
        return []  # gather_facts already says so
    odd = [f"{side} {s.tdata_bits}" for side, s in (("input", facts.input), ("output", facts.output))
           if s.tdata_bits not in DMA_STREAM_WIDTHS or s.tdata_bits > facts.dma_width_bits]
    if odd:
        return [f"no Vivado block design: the accelerator's stream width ({', '.join(odd)} bits) is not an "
                f"AXI DMA stream width up to {facts.dma_width_bits} bits; insert an AXI4-Stream width "
                "converter by hand"]
    return []


def _render(facts: DesignFacts, build_dir: Path, source: str) -> dict[str, str]:
    has_hls = (build_dir / "hls" / "run_hls.tcl").is_file()
    blocked = _block_design_notes(facts)
    extra = blocked + ([] if has_hls else ["no vitis_hls.tcl: this build has no HLS project (hls/)"])
    facts = replace(facts, notes=[*facts.notes, *extra])
    env = _environment()
    banner = f"Generated by hwprune {__version__} from {_one_line(source)}: board bring-up. Do not edit."
    clock = f"{facts.clock_mhz:g}"
    context = {"d": facts, "banner": banner, "clock": clock, "bd": BLOCK_DESIGN,
               "mm2s_width": facts.input.tdata_bits, "s2mm_width": facts.output.tdata_bits}
    files: dict[str, str] = {}
    if facts.ps_ip is not None and not blocked:
        files["vivado_bd.tcl"] = env.get_template("vivado_bd.tcl.j2").render(context)
    if has_hls:
        files["vitis_hls.tcl"] = env.get_template("vitis_hls.tcl.j2").render(context)
    files["driver.py"] = env.get_template("driver.py.j2").render(context)
    files["bringup.ipynb"] = _notebook(env, context)
    files["design.json"] = json.dumps(facts.to_dict(), indent=1, sort_keys=True) + "\n"
    files["golden.json"] = _golden_text(read_golden(build_dir / "sim"), facts)
    listed = sorted([*files, "README.md", "manifest.json"])
    files["README.md"] = env.get_template("README.md.j2").render(
        context, files=[(name, FILE_ROLES[name]) for name in listed])
    files["manifest.json"] = json.dumps({
        "generator": f"hwprune {__version__}", "source": _one_line(source), "board": facts.board,
        "top": facts.top, "files": listed, "notes": facts.notes,
    }, indent=1, sort_keys=True) + "\n"
    return files


def _remove_previous(out: Path) -> None:
    """Delete the files an earlier run listed in its manifest (a bitstream copied in stays)."""
    manifest = out / "manifest.json"
    if not manifest.is_file():
        return
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError):
        raise BuildError("board/manifest.json is unreadable; remove board/ by hand",
                         file=out.parent) from None
    for name in listed:
        if name in FILE_ROLES:
            (out / name).unlink(missing_ok=True)


def write_bringup(build_dir: str | Path, board: Board, project: str, source: str) -> Path:
    """Write ``build_dir/board/`` for ``board`` from the build's ``rtl/`` and ``sim/``; returns it.

    A build without a network top in ``rtl/manifest.json`` (nothing to bring up) gets only
    ``board/manifest.json`` saying why (and a line in the log at INFO level).
    """
    build_dir = Path(build_dir)
    out = build_dir / BOARD_DIR
    _remove_previous(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        facts = gather_facts(build_dir, board, project, source)
    except BuildError as exc:
        log.info("no board bring-up: %s", exc.reason)
        skipped = {"generator": f"hwprune {__version__}", "source": _one_line(source), "board": board.name,
                   "files": ["manifest.json"], "skipped": exc.reason}
        text = json.dumps(skipped, indent=1, sort_keys=True) + "\n"
        (out / "manifest.json").write_text(text, encoding="utf-8")
        return out
    for name, text in _render(facts, build_dir, source).items():
        (out / name).write_text(text, encoding="utf-8")
    return out
