"""Save and load the digits ViT as a small, byte-reproducible .npz (float32 weights + its config as JSON).

A zip written with fixed timestamps and sorted names depends only on the weights, so retraining with the
same seed rewrites the committed artefact byte for byte (np.savez would stamp the current time).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from hwprune.errors import ModelLoadError
from hwprune.tokens.vit import DigitsViT, ViTConfig

__all__ = ["save_vit", "load_vit"]

_CONFIG_KEY = "__config__"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def save_vit(model: DigitsViT, path: str | Path) -> None:
    """Write the weights (float32) and the ``ViTConfig`` to ``path`` deterministically."""
    arrays = {name: t.detach().cpu().numpy().astype(np.float32) for name, t in model.state_dict().items()}
    config = json.dumps(dataclasses.asdict(model.cfg), sort_keys=True).encode("utf-8")
    arrays[_CONFIG_KEY] = np.frombuffer(config, dtype=np.uint8)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def load_vit(path: str | Path) -> DigitsViT:
    """Rebuild the model saved by ``save_vit`` (in eval mode)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"cannot read ViT weights: {exc}", file=path) from None
    if _CONFIG_KEY not in arrays:
        raise ModelLoadError("not a hwprune ViT file (no config entry)", file=path)
    raw = json.loads(arrays.pop(_CONFIG_KEY).tobytes().decode("utf-8"))
    raw["selector_blocks"] = tuple(raw["selector_blocks"])
    model = DigitsViT(ViTConfig(**raw))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays.items()})
    return model.eval()
