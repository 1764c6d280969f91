"""The MLPerf Tiny reference models, rebuilt in torch from the published Keras layer lists.

Why rebuilt: the zoo must build offline and without TensorFlow, so each model is defined here from the
layer list of the MLPerf Tiny training reference (github.com/mlcommons/tiny, ``benchmark/training/``),
with seeded random weights. Shapes, filters, kernels and strides follow the reference; where Keras's
``padding="same"`` pads asymmetrically (stride 2 on an even size, or an even kernel) the module pads
the same rows and columns explicitly with ``nn.ZeroPad2d`` (exported as a zero ``Pad`` that hwprune
folds into the Conv). Softmax heads are left out: the models end in logits.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["resnet8", "ds_cnn", "mobilenet_v1_025"]


def same_pad(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> nn.ZeroPad2d:
    """Keras ``padding="same"``: total padding ``max((ceil(n/s) - 1)·s + k - n, 0)``, the extra one at the end."""
    pads: list[int] = []
    for n, k, s in zip(size, kernel, stride):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads.append(total // 2)
        pads.append(total - total // 2)
    top, bottom, left, right = pads
    return nn.ZeroPad2d((left, right, top, bottom))


def conv_bn_relu(c_in: int, c_out: int, size: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 relu: bool = True) -> list[nn.Module]:
    """Pad ("same") + Conv + BatchNorm (+ ReLU), the unit every Keras reference model repeats."""
    layers: list[nn.Module] = [same_pad((size, size), (kernel, kernel), (stride, stride)),
                               nn.Conv2d(c_in, c_out, kernel, stride, groups=groups), nn.BatchNorm2d(c_out)]
    return layers + [nn.ReLU()] if relu else layers


class ResidualStack(nn.Module):
    """One stack of ``resnet_v1_eembc``: conv-BN-ReLU, conv-BN, plus the shortcut (identity, or a strided
    1x1 conv without BatchNorm when the stack halves the map), then ReLU."""

    def __init__(self, c_in: int, c_out: int, size: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_bn_relu(c_in, c_out, size, 3, stride),
                                  *conv_bn_relu(c_out, c_out, size // stride, 3, 1, relu=False))
        self.shortcut: nn.Module = nn.Identity() if stride == 1 else nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet8(num_classes: int = 10) -> nn.Module:
    """ResNet-8 for CIFAR-10 (32x32x3): a 16-filter stem, stacks of 16, 32 (stride 2), 64 (stride 2)
    filters, 8x8 average pool, Dense(10). MLPerf Tiny ``benchmark/training/image_classification/keras_model.py``,
    ``resnet_v1_eembc``."""
    return nn.Sequential(*conv_bn_relu(3, 16, 32), ResidualStack(16, 16, 32, 1), ResidualStack(16, 32, 32, 2),
                         ResidualStack(32, 64, 16, 2), nn.AvgPool2d(8), nn.Flatten(), nn.Linear(64, num_classes))


def ds_cnn(num_classes: int = 12, filters: int = 64) -> nn.Module:
    """DS-CNN for keyword spotting (49x10x1 MFCCs): Conv 10x4 stride 2 with 64 filters, 4 blocks of
    depthwise 3x3 + pointwise 1x1 (each with BatchNorm and ReLU), average pool over the 25x5 map,
    Dense(12). MLPerf Tiny ``benchmark/training/keyword_spotting/keras_model.py``, ``ds_cnn`` (from
    Zhang et al., "Hello Edge", arXiv:1711.07128); the dropout layers are identities at inference."""
    layers: list[nn.Module] = [same_pad((49, 10), (10, 4), (2, 2)), nn.Conv2d(1, filters, (10, 4), 2),
                               nn.BatchNorm2d(filters), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Conv2d(filters, filters, 3, padding=1, groups=filters), nn.BatchNorm2d(filters), nn.ReLU(),
                   nn.Conv2d(filters, filters, 1), nn.BatchNorm2d(filters), nn.ReLU()]
    return nn.Sequential(*layers, nn.AvgPool2d((25, 5)), nn.Flatten(), nn.Linear(filters, num_classes))


def mobilenet_v1_025(num_classes: int = 2, size: int = 96) -> nn.Module:
    """MobileNetV1 with width 0.25 for visual wake words (96x96x3): a stride-2 3x3 conv of 8 filters, 13
    depthwise-separable blocks (16, 32/2, 32, 64/2, 64, 128/2, 5x128, 256/2, 256), global average pool,
    Dense(2). MLPerf Tiny ``benchmark/training/visual_wake_words/vww_model.py`` (Howard et al.,
    arXiv:1704.04861, Table 1, alpha = 0.25)."""
    layers: list[nn.Module] = conv_bn_relu(3, 8, size, 3, 2)
    size = -(-size // 2)
    c_in = 8
    for c_out, stride in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), *[(128, 1)] * 5, (256, 2), (256, 1)]:
        layers += conv_bn_relu(c_in, c_in, size, 3, stride, groups=c_in)
        size = -(-size // stride)
        layers += [nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
        c_in = c_out
    return nn.Sequential(*layers, nn.AvgPool2d(size), nn.Flatten(), nn.Linear(c_in, num_classes))
