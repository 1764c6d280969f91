"""Write a Vitis HLS project (``build/<…>/hls/``) from KernelSpecs and, for a network, the quantized graph.

Layout of what is written (all text, byte-identical for identical inputs):

- ``firmware/<project>.h`` / ``.cpp``: layer config structs and top functions (``hls::stream`` ports
  with ``INTERFACE axis``); ``firmware/weights.h``: packed weights, offsets, bias, requantiser arrays;
  ``firmware/include/hwprune/*.h``: a copy of the header-only kernel library, so the directory is
  self-contained for Vitis.
- ``tb/tb_<project>.cpp``: the C-sim testbench (golden vectors from ``tb/data/<top>.{in,out}.txt``,
  written by :mod:`hwprune.sim.csim`).
- ``run_hls.tcl``: open_project / set_top / add_files / set_part / create_clock / csim / csynth / export.
- ``hls.json``: the manifest :func:`hwprune.sim.csim.run_csim` reads (tops, element counts, board).

Two modes: *network* (``qgraph`` given: one top, a DATAFLOW region from the Quantize node's integer
output to the graph output: a chain, or a graph with forks and merges, see ``network.py``) and *kernels* (``qgraph`` None: one top ``<ident>_top`` per KernelSpec, the
form the kernel-level bit-exactness tests use). A graph with TokenSelector nodes also gets *kernels* mode
(named after the model): after a selector the token count is data-dependent, which one fixed-length
stream top cannot carry, so each layer is its own top with per-layer golden vectors
(:func:`hwprune.sim.csim.write_network_vectors`) and the selectors have their own project
(``hwprune.tokens.emit``). The generated C++ is written from Jinja2 templates in
``templates/``; this module only decides what goes in them and writes the files atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jinja2

from hwprune import __version__
from hwprune.boards import Board, load_board
from hwprune.errors import BoardError, BuildError
from hwprune.ir.dynamic import has_dynamic_rows
from hwprune.ir.graph import Graph
from hwprune.lower.kernel_spec import KernelSpec
from hwprune.lower.names import identifier, unique_identifiers
from hwprune.resources import shipped_dir

from .context import mac_layer
from .network import network_stages

__all__ = ["HlsProject", "HlsTop", "write_hls", "clock_period_ns", "library_headers", "MANIFEST", "OPTIONAL_HEADERS"]

MANIFEST = "hls.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
OPTIONAL_HEADERS: dict[str, tuple[str, ...]] = {
    "grouped_conv.h": ("grouped_conv2d",), "merge.h": ("fork2", "add2", "concat2"),
    "average.h": ("avgpool2d", "global_avgpool"), "hard_act.h": ("hard_sigmoid", "hard_swish", "lookup"),
}
"""Library headers outside the umbrella ``hwprune.h`` -> their functions: a header is copied into (and
included by) only the projects whose layers or stages call one of them, so a project without such a
stage is unchanged by their existence."""


@dataclass(frozen=True)
class HlsTop:
    """One top-level function: its name, port element types and elements per inference."""

    name: str
    in_t: str
    out_t: str
    in_count: int
    out_count: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HlsProject:
    """What :func:`write_hls` wrote (also readable back from ``hls.json`` with :meth:`load`)."""

    root: Path
    project: str
    mode: str
    board: str
    part: str
    clock_mhz: float
    tops: tuple[HlsTop, ...]

    @property
    def firmware(self) -> Path:
        return self.root / "firmware" / f"{self.project}.cpp"

    @property
    def testbench(self) -> Path:
        return self.root / "tb" / f"tb_{self.project}.cpp"

    @property
    def include_dir(self) -> Path:
        return self.root / "firmware" / "include"

    @property
    def data_dir(self) -> Path:
        return self.root / "tb" / "data"

    def top(self, name: str) -> HlsTop:
        for top in self.tops:
            if top.name == name:
                return top
        names = [t.name for t in self.tops]
        raise BuildError(f"HLS project {self.project!r} has no top {name!r}; tops: {names}")

    @staticmethod
    def load(root: str | Path) -> "HlsProject":
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise BuildError(f"{path} is missing: not an HLS project written by hwprune (run the emit step)")
        data = json.loads(path.read_text(encoding="utf-8"))
        return HlsProject(root=root, project=data["project"], mode=data["mode"], board=data["board"],
                          part=data["part"], clock_mhz=float(data["clock_mhz"]),
                          tops=tuple(HlsTop(**top) for top in data["tops"]))


def clock_period_ns(clock_mhz: float) -> str:
    """``1000 / MHz`` as Vitis' ``create_clock -period`` wants it: at most 3 decimals, no trailing zeros."""
    if not clock_mhz > 0:
        raise BoardError(f"PL clock must be positive, not {clock_mhz!r} MHz")
    return f"{1000.0 / clock_mhz:.3f}".rstrip("0").rstrip(".")


def library_headers(functions: set[str]) -> list[Path]:
    """The library headers a project copies: every one in the umbrella, plus the optional ones whose
    function one of its layers calls (``OPTIONAL_HEADERS``), in name order."""
    library = shipped_dir("hls") / "include" / "hwprune"
    headers = [h for h in sorted(library.glob("*.h"))
               if h.name not in OPTIONAL_HEADERS or set(OPTIONAL_HEADERS[h.name]) & functions]
    if not headers:
        raise BuildError(f"the HLS kernel library is missing: no headers in {library}")
    return headers


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True, autoescape=False)
    env.filters["comment"] = _one_line
    return env


def _one_line(text: str) -> str:
    """User text (model paths, ONNX names) made safe inside a ``//`` comment: one line, and no
    backslash, which at the end of a line would splice the next line of code into the comment."""
    return " ".join(str(text).replace("\\", "/").split())


def _kernel_tops(kernels: Sequence[KernelSpec]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    layers = [mac_layer(spec) for spec in kernels]
    tops = []
    for layer in layers:
        types = layer["types"]
        tops.append({
            "name": f"{layer['ident']}_top", "doc": f"kernel {layer['name']} alone", "in_t": types["in_t"],
            "out_t": types["out_t"], "in_count": layer["in_count"], "out_count": layer["out_count"],
            "streams": [],
            "stages": [{"kind": "mac", "layer": layer, "node": layer["name"],
                        "op": layer["kind"].capitalize(), "in_stream": "x_in", "out_stream": "y_out"}],
        })
    return layers, tops


def _render_all(kernels: Sequence[KernelSpec], qgraph: Graph | None, board: Board, project: str,
                source: str) -> tuple[dict[str, str], list[HlsTop]]:
    """Every generated text file, keyed by its path relative to the project root."""
    ns = f"{project}_layers"
    pools: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []  # stages with a generic config struct (forks, merges, averages, ...)
    if qgraph is None:
        layers, tops = _kernel_tops(kernels)
    else:
        chain = network_stages(qgraph, kernels)
        layers = [stage["layer"] for stage in chain["stages"] if stage["kind"] == "mac"]
        pools = [stage for stage in chain["stages"] if stage["kind"] == "maxpool"]
        calls = [stage for stage in chain["stages"] if stage["kind"] == "call"]
        tops = [{"name": project, "doc": f"network {source}: Quantize output in, graph output out",
                 "in_t": chain["in_t"], "out_t": chain["out_t"], "in_count": chain["in_count"],
                 "out_count": chain["out_count"], "streams": chain["streams"], "stages": chain["stages"]}]
    guard = identifier(project).upper()
    banner = f"Generated by hwprune {__version__} from {_one_line(source)}. Do not edit; regenerate."
    functions = {x["function"] for x in [*layers, *calls]}
    extra = sorted(name for name, called in OPTIONAL_HEADERS.items() if set(called) & functions)
    common = {"banner": banner, "project": project, "ns": ns, "layers": layers, "pools": pools, "calls": calls,
              "tops": tops, "extra_headers": extra}
    env = _environment()
    files = {
        f"firmware/{project}.h": env.get_template("top.h.j2").render(common, guard=f"{guard}_H"),
        f"firmware/{project}.cpp": env.get_template("top.cpp.j2").render(common),
        "firmware/weights.h": env.get_template("weights.h.j2").render(common, guard=f"{guard}_WEIGHTS_H"),
        f"tb/tb_{project}.cpp": env.get_template("tb.cpp.j2").render(common),
        "run_hls.tcl": env.get_template("run_hls.tcl.j2").render(
            common, tops=[t["name"] for t in tops], board=board.name, part=board.part,
            clock_mhz=f"{board.pl_clock_mhz:g}", period_ns=clock_period_ns(board.pl_clock_mhz)),
    }
    for header in library_headers(functions):
        files[f"firmware/include/hwprune/{header.name}"] = header.read_text(encoding="utf-8")
    hls_tops = [HlsTop(t["name"], t["in_t"], t["out_t"], int(t["in_count"]), int(t["out_count"]))
                for t in tops]
    manifest = {
        "generator": f"hwprune {__version__}", "source": _one_line(source), "project": project,
        "mode": "kernels" if qgraph is None else "network", "board": board.name, "part": board.part,
        "clock_mhz": board.pl_clock_mhz, "tops": [t.to_dict() for t in hls_tops],
        "files": sorted([*files, MANIFEST]),
    }
    files[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    return files, hls_tops


def _replace_dir(staging: Path, out_dir: Path) -> None:
    """Move the fully written staging directory into place; never clobber a foreign directory."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise BuildError(f"{out_dir} exists and is not a directory")
        if any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
            raise BuildError(f"{out_dir} is not empty and was not written by hwprune's HLS writer; "
                             "not replacing it")
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)


def write_hls(kernels: Sequence[KernelSpec], qgraph: Graph | None, board: Board | str, out_dir: str | Path, *,
              project: str | None = None) -> HlsProject:
    """Write the HLS project for ``kernels`` into ``out_dir`` (replaced as a whole, atomically).

    ``qgraph`` given: one network top named after the model (``project`` overrides), streaming the
    Quantize node's integer output in and the graph output out. ``qgraph`` None: one ``<ident>_top``
    per kernel. ``board`` is a Board or a board name; its part and PL clock go into ``run_hls.tcl``.
    Golden vectors are not written here (see :func:`hwprune.sim.csim.write_vectors`).
    """
    if not kernels:
        raise BuildError("no kernels to write: the HLS project needs at least one Dense/Conv KernelSpec")
    board = load_board(board) if isinstance(board, str) else board
    if board.family == "asic" or board.part in ("", "none"):
        raise BoardError(f"board {board.name!r} has no FPGA part for Vitis HLS")
    if len({spec.ident for spec in kernels}) != len(kernels):
        raise BuildError("KernelSpec identifiers are not unique")
    if qgraph is not None:
        stem = Path(qgraph.source).stem if qgraph.source else qgraph.name
        source = qgraph.source or qgraph.name
    else:
        stem, source = "kernels", "KernelSpecs " + ", ".join(spec.name for spec in kernels)
    name = unique_identifiers([project or stem], prefix="net")[0]
    if qgraph is not None and has_dynamic_rows(qgraph):
        qgraph = None  # per-layer tops: no fixed-length network stream across a selector (module docstring)
    files, tops = _render_all(kernels, qgraph, board, name, source)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would survive the rename
    try:
        for rel, text in sorted(files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        (staging / "tb" / "data").mkdir(parents=True, exist_ok=True)
        _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return HlsProject(root=out_dir, project=name, mode="kernels" if qgraph is None else "network",
                      board=board.name, part=board.part, clock_mhz=board.pl_clock_mhz, tops=tuple(tops))

