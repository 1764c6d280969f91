"""Target boards: one declarative YAML file each in ``boards/``, loaded into a frozen ``Board``.

The files ship inside the wheel (see ``hwprune.resources``), so lookups work the same from a
checkout and from an installed package.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from hwprune.errors import BoardError
from hwprune.resources import shipped_dir

__all__ = ["Board", "load_board", "board_names", "all_boards"]


@dataclass(frozen=True)
class Board:
    """Data-sheet facts of one board's programmable logic (0 = no ceiling)."""

    name: str
    part: str
    family: str
    yosys_family: str
    lut: int
    ff: int
    dsp: int
    bram18: int
    bram36: int
    uram: int
    pl_clock_mhz: float
    ps: str
    dma_width_bits: int
    source: str

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _board_files() -> dict[str, Path]:
    root = shipped_dir("boards")
    return {Path(str(entry)).stem: Path(str(entry)) for entry in root.iterdir() if str(entry).endswith(".yaml")}


def board_names() -> list[str]:
    return sorted(_board_files())


def _parse(path: Path, name: str) -> Board:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BoardError(f"invalid YAML: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise BoardError("a board file must be a mapping of fields", file=path)
    expected = {f.name: f.type for f in fields(Board)}
    missing = sorted(set(expected) - set(data))
    unknown = sorted(set(data) - set(expected))
    if missing:
        raise BoardError(f"missing fields: {', '.join(missing)}", file=path)
    if unknown:
        raise BoardError(f"unknown fields: {', '.join(unknown)}", file=path)
    for key in ("lut", "ff", "dsp", "bram18", "bram36", "uram", "dma_width_bits"):
        if not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < 0:
            raise BoardError(f"field {key!r} must be a non-negative integer, not {data[key]!r}", file=path)
    if data["name"] != name:
        raise BoardError(f"name {data['name']!r} does not match the file name {name!r}", file=path)
    return Board(**data)


def load_board(name: str) -> Board:
    """The board called ``name``; ``BoardError`` listing the known boards otherwise."""
    files = _board_files()
    if name not in files:
        raise BoardError(f"unknown board {name!r}; known boards: {', '.join(sorted(files))}")
    return _parse(files[name], name)


def all_boards() -> list[Board]:
    return [load_board(name) for name in board_names()]
