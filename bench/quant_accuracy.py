"""Float vs int8 (integer reference) top-1 accuracy of the bundled digits models.

Run: ``.venv/bin/python bench/quant_accuracy.py`` (part of ``make bench``).
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _doc import publish  # noqa: E402

from hwprune.demo import run_demo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_demo(ROOT / "examples", Path(tmp))
    lines = [
        "## Quantization accuracy (PTQ int8, integer reference)",
        "",
        f"Measured {datetime.date.today().isoformat()} by `bench/quant_accuracy.py`: digits test split (360 images, "
        "seed 0), calibration on `examples/calibration.npz` (256 training images).",
        "",
        "| model | float top-1 | int8 top-1 | difference |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        diff = float(row["integer_top1"]) - float(row["float_top1"])
        lines.append(f"| `{row['model']}` | {row['float_top1']:.2f}% | {row['integer_top1']:.2f}% | {diff:+.2f} |")
    publish("quant_accuracy", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
