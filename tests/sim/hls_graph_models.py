"""Small torch models that branch and merge (or pool on average) for the HLS network-top tests, quantized
as the flow does it (``import_torch`` → ``quantize_graph`` on seeded calibration data)."""

from __future__ import annotations

import numpy as np
import torch

from hwprune.frontend import import_torch
from hwprune.ir.graph import Graph
from hwprune.quant import quantize_graph

nn = torch.nn


class IdentityBlock(nn.Module):
    """conv3x3-ReLU stem, then conv3x3-ReLU-conv3x3 + the identity shortcut, Add, ReLU (fused)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return torch.relu(x + self.body(x))


class ConvShortcut(nn.Module):
    """A block whose shortcut is a 1x1 conv (4 → 6 channels), then Flatten and Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1))
        self.short = nn.Conv2d(4, 6, 1)
        self.fc = nn.Linear(6 * 5 * 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.fc(torch.relu(self.short(x) + self.body(x)).flatten(1))


class Branches(nn.Module):
    """Concat of a 3-channel conv, a 5-channel conv+ReLU and the stem itself (scales differ: requantised),
    then a Concat of that tensor with itself (one scale: copied), and a 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU())
        self.a = nn.Conv2d(4, 3, 3, padding=1)
        self.b = nn.Sequential(nn.Conv2d(4, 5, 1), nn.ReLU())
        self.head = nn.Conv2d(24, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = torch.cat([self.a(x), self.b(x), x], dim=1)
        return self.head(torch.cat([y, y], dim=1))


class Averages(nn.Module):
    """Signed conv → AveragePool 2x2/2 → conv+ReLU → AveragePool 3x3/2 pad 1 (count_include_pad) →
    GlobalAveragePool → Flatten (the graph output)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Sequential(nn.Conv2d(4, 5, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.avg_pool2d(self.c1(x), 2)
        x = nn.functional.avg_pool2d(self.c2(x), 3, stride=2, padding=1, count_include_pad=True)
        return nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)


class HardActs(nn.Module):
    """conv → HardSwish → conv → HardSigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.hardsigmoid(self.c2(nn.functional.hardswish(self.c1(x))))


class Transposed(nn.Module):
    """A conv, then a Transpose of H and W (no HLS stage), Flatten, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.fc = nn.Conv2d(2, 3, 3, padding=1), nn.Linear(3 * 5 * 5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.c1(x).transpose(2, 3).flatten(1))


MODELS = {"identity": IdentityBlock, "conv_shortcut": ConvShortcut, "branches": Branches, "averages": Averages,
          "hard_acts": HardActs, "transposed": Transposed}
SHAPES = {"averages": (2, 8, 8)}


def inputs(name: str, n: int, seed: int, loud: bool = True) -> np.ndarray:
    """``n`` float inputs, normal; with ``loud`` every fourth one is scaled by 8, beyond the calibrated
    range, so the merges and layers saturate."""
    x = np.random.default_rng(seed).normal(size=(n, *SHAPES.get(name, (2, 5, 5)))).astype(np.float32)
    if loud:
        x[::4] *= 8
    return x


def quantized(name: str) -> Graph:
    """The model ``name`` imported and PTQ-quantized on 64 seeded normal inputs (deterministic)."""
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    graph = import_torch(model, torch.from_numpy(inputs(name, 1, 0)), name=name)
    return quantize_graph(graph, {graph.inputs[0]: inputs(name, 64, 0, loud=False)})
