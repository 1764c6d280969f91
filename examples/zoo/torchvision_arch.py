"""torchvision's MobileNetV2 and ResNet-18, defined here from torchvision's published layer lists.

Why not ``import torchvision``: the only torchvision built for torch 2.13 on the package index
(0.28.0) is a CUDA build whose ``_C.so`` needs ``libtorch_cuda.so``, which the pinned CPU torch lacks,
so it does not import. The classes below follow ``torchvision/models/mobilenetv2.py`` and
``torchvision/models/resnet.py`` (same layers, order, channels, strides, paddings, BatchNorm, ReLU6 /
ReLU placement and residual connections; width multiplier 1.0), written from those layer lists, not
copied. Inputs are small (32x32 or 64x64) and ``num_classes`` 10.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MobileNetV2", "ResNet18"]


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    """Conv (no bias, padding ``(k-1)//2``) + BatchNorm (+ activation): torchvision's ``Conv2dNormActivation``."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, act()) if act is not None else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand 1x1 (ReLU6, left out when t = 1), depthwise 3x3 (ReLU6), linear 1x1 projection; the input
    is added back when the block keeps stride 1 and the channel count (Sandler et al., arXiv:1801.04381)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = [conv_bn(c_in, hidden, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, c_out, 1, act=None)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision ``mobilenet_v2`` (width 1.0): stem 3x3/2 to 32, the (t, c, n, s) table of the paper,
    a 1x1 conv to 1280, global average pool, dropout (identity in eval) and Linear(1280, classes)."""

    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
        c_in = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        layers.append(conv_bn(c_in, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BatchNorm (ReLU between), the input added back (through a strided 1x1 conv +
    BatchNorm when the block changes stride or width), then ReLU (He et al., arXiv:1512.03385)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, c_out, 3, stride, act=nn.ReLU), conv_bn(c_out, c_out, 3, act=None))
        self.downsample: nn.Module = (conv_bn(c_in, c_out, 1, stride, act=None) if stride != 1 or c_in != c_out
                                      else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.downsample(x))


class ResNet18(nn.Module):
    """torchvision ``resnet18``: 7x7/2 conv to 64 + BatchNorm + ReLU, 3x3/2 max pool, four layers of two
    basic blocks (64, 128/2, 256/2, 512/2), global average pool, Linear(512, classes)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 64, 7, 2, act=nn.ReLU), nn.MaxPool2d(3, 2, 1)]
        c_in = 64
        for c, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(c_in, c, s), BasicBlock(c, c, 1)]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))
