"""Design v3: the teachers' own branches on one shared stem.

    image ─▶ stem (YuNet's first block: conv 3→16, 3x3, stride 2, ReLU; computed once)
               ├─▶ detection branch (the rest of YuNet): score, box, 5 landmarks per cell
               └─▶ per face: the stem map sampled on a landmark-aligned grid of the ArcFace
                   template ─▶ adapter (16→64, ReLU6) ─▶ recognition body (MobileFaceNet after
                   its first conv) ─▶ 128-D embedding

Three adapters (ADAPTERS), fitted at the evaluation scale (R² to MobileFaceNet's first conv; cosine
of the untrained network's embedding to the teacher's):
- '1x1': the stem sampled on the 56x56 output grid, a 1x1 conv (R² 0.80, cosine 0.963): one stem
  cell cannot see the 3x3 template pixels the teacher's conv sees.
- '3x3' (the default): the same 56x56 samples, a 3x3 conv (R² 0.95, cosine 0.986).
- '3x3s2': the stem sampled at every template pixel (112x112), a 3x3 stride-2 conv, the teacher
  conv's own footprint (R² 0.98, cosine 0.995; untrained, 0.7 points above '3x3' on LFW DevTest,
  equal on DevTrain); but 4x the samples: at 52 faces onnxruntime's GridSample takes 196 ms as one
  112x112 grid, 40 ms as four 56x56 phase grids (how `sample` does it), whose interleaving takes
  another ~70 ms; the per-face cost is 1.6x the cascade's (5.56 against 3.44 ms).

Geometry: MobileFaceNet's first conv (3x3, stride 2, pad 1) centres output i on template pixel
2i; YuNet's stem centres map cell j on input pixel 2j. So the '1x1' sample for output i is the stem
map at (template→input similarity applied to (2i, 2j)) / 2, the receptive-field centres lined up;
'3x3s2' samples template pixel i and lets its conv (pad 1, stride 2) centre output i on 2i.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from model import ARCFACE_TEMPLATE
from onnx_import import OnnxModule

YUNET_STEM_OUT = '184'  # Conv_0 + Relu_1: [B, 16, H/2, W/2]
STRIDES = (8, 16, 32)
YUNET_HEADS = [f'{k}_{s}' for k in ('cls', 'obj', 'bbox', 'kps') for s in STRIDES]
MFN_CONV1_PRE = '/conv1/conv1.0/Conv_output_0'  # first conv, before ReLU6: the adapter's fitting target
MFN_CONV1_OUT = '/conv1/conv1.2/Clip_output_0'  # where the body starts
# MobileFaceNet's residual blocks (x + f(x)): 4 at 28x28, 6 at 14x14, 2 at 7x7; a slim body drops some
RESIDUAL_BLOCKS = (1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13, 14)
GRID = 56  # MobileFaceNet's first conv output is 56x56 for a 112x112 face
STEM_STRIDE = 2
# adapter kind -> (sampling grid size, template pixels between samples, conv kernel, conv stride)
ADAPTERS = {'1x1': (GRID, 2, 1, 1), '3x3': (GRID, 2, 3, 1), '3x3s2': (2 * GRID, 1, 3, 2)}


class JointV3(nn.Module):
    """The v3 joint network. `forward(bgr)` runs the shared stem and the detection branch on float
    BGR 0..255 NCHW images; `embed(stem_one_image, marks)` embeds the faces of one image."""

    def __init__(self, yunet_onnx: str | Path, mobilefacenet_onnx: str | Path, adapter_channels: int = 64,
                 skip_blocks: tuple[int, ...] = (), adapter: str = '1x1'):
        """`skip_blocks`: MobileFaceNet residual blocks (`features.<n>`, n in RESIDUAL_BLOCKS) left out of a slimmer body;
        `adapter`: a key of ADAPTERS."""
        super().__init__()
        if adapter not in ADAPTERS:
            raise ValueError(f'unknown adapter {adapter!r} (known: {", ".join(ADAPTERS)})')
        self.adapter_kind = adapter
        self.sample_size, self.sample_step, kernel, stride = ADAPTERS[adapter]
        self.skip_blocks = tuple(sorted(skip_blocks))
        unknown = set(self.skip_blocks) - set(RESIDUAL_BLOCKS)
        if unknown:
            raise ValueError(f'not residual blocks of MobileFaceNet: {sorted(unknown)} (those are {RESIDUAL_BLOCKS})')
        self.stem = OnnxModule(str(yunet_onnx), ['input'], [YUNET_STEM_OUT])
        self.detector = OnnxModule(str(yunet_onnx), [YUNET_STEM_OUT], YUNET_HEADS)
        self.adapter = nn.Conv2d(self.stem_channels(), adapter_channels, kernel, stride=stride, padding=kernel // 2)
        self.body = OnnxModule(str(mobilefacenet_onnx), [MFN_CONV1_OUT], ['output0'],
                               skip=[f'/features/features.{n}/Add' for n in self.skip_blocks])

    def stem_channels(self) -> int:
        return int(self.stem.tensor(self.stem.nodes[0].input[1]).shape[0])

    def forward(self, bgr: torch.Tensor):
        stem = self.stem(bgr)
        heads = dict(zip(YUNET_HEADS, self.detector(stem)))
        return stem, heads

    def sample(self, stem: torch.Tensor, marks: torch.Tensor) -> torch.Tensor:
        """Aligned stem features [K, C, n, n] of K faces of one image ([1, C, h, w] map; marks [K, 5, 2] input px)."""
        if self.sample_step == 1:
            # Every template pixel as four interleaved 56x56 phase grids: the same samples, but onnxruntime's
            # GridSample runs four calls of a quarter the size 4-6x faster than one (its cost grows faster than
            # its output once grid and output leave the cache).
            phases = [self.sample_grid(stem, marks, GRID, 2, (dx, dy)) for dy in (0, 1) for dx in (0, 1)]  # 4 x [K, C, 56, 56]
            k, c = phases[0].shape[:2]
            return F.pixel_shuffle(torch.stack(phases, 2).reshape(k, c * 4, GRID, GRID), 2)  # [K, C, 112, 112]
        return self.sample_grid(stem, marks, self.sample_size, self.sample_step)

    @staticmethod
    def sample_grid(stem: torch.Tensor, marks: torch.Tensor, n: int, step: int, offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
        """The stem map at template pixels (step·j + offset x, step·i + offset y), i, j < n: [K, C, n, n]."""
        _, c, h, w = stem.shape
        grid = aligned_grid(marks, h, w, n, step, offset)  # [K, n, n, 2]
        # One GridSample for every face of the image: rows of faces stacked, then faces to the batch axis.
        feats = F.grid_sample(stem, grid.reshape(1, -1, n, 2), mode='bilinear', padding_mode='zeros', align_corners=False)
        return feats.reshape(c, -1, n, n).transpose(0, 1)

    def embed_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Aligned stem features -> raw (unnormalized) embeddings [K, D]."""
        x = torch.clamp(self.adapter(feats), 0.0, 6.0)  # MobileFaceNet's conv1 ends in ReLU6
        return self.body(x).flatten(1)

    def embed(self, stem: torch.Tensor, marks: torch.Tensor) -> torch.Tensor:
        return self.embed_features(self.sample(stem, marks))


def similarity_to_template(marks: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Least-squares similarity mapping landmarks [K,5,2] onto the ArcFace template, as the SDK's
    cascade estimates it (frame -> template, Umeyama in 2D): (a, b, tx, ty), each [K]."""
    dst = marks.new_tensor(ARCFACE_TEMPLATE)
    sm = marks.mean(1)
    dm = dst.mean(0)
    sc = marks - sm.unsqueeze(1)
    dc = dst - dm
    den = (sc * sc).sum((1, 2)).clamp(min=1e-6)
    a = (sc[..., 0] * dc[:, 0] + sc[..., 1] * dc[:, 1]).sum(1) / den
    b = (sc[..., 0] * dc[:, 1] - sc[..., 1] * dc[:, 0]).sum(1) / den
    tx = dm[0] - (a * sm[:, 0] - b * sm[:, 1])
    ty = dm[1] - (b * sm[:, 0] + a * sm[:, 1])
    return a, b, tx, ty


def template_points_in_frame(marks: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Template pixel coordinates [P,2] -> frame pixel coordinates [K,P,2] through the inverse of the
    landmarks' similarity (the same inverse map the cascade's warp uses)."""
    a, b, tx, ty = similarity_to_template(marks)
    s2 = (a * a + b * b).clamp(min=1e-12)
    ia, ib = a / s2, -b / s2
    itx = -(ia * tx - ib * ty)
    ity = -(ib * tx + ia * ty)
    x, y = points[:, 0], points[:, 1]
    u = ia[:, None] * x - ib[:, None] * y + itx[:, None]
    v = ib[:, None] * x + ia[:, None] * y + ity[:, None]
    return torch.stack([u, v], -1)


def grid_points(marks: torch.Tensor, n: int = GRID, step: int = 2, offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Template pixels (step·j + offset x, step·i + offset y), i, j < n, as (x, y): [n*n, 2]. n=56, step=2 are where
    MobileFaceNet's first conv centres its outputs; n=112, step=1 is every pixel of the template."""
    steps = torch.arange(n, dtype=marks.dtype, device=marks.device) * float(step)
    gy, gx = torch.meshgrid(steps + offset[1], steps + offset[0], indexing='ij')
    return torch.stack([gx, gy], -1).reshape(-1, 2)


def aligned_grid(marks: torch.Tensor, h: int, w: int, n: int = GRID, step: int = 2, offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """GridSample coordinates [K,n,n,2] on a stride-2 map of h x w cells (cell j centred on input pixel 2j)."""
    frame = template_points_in_frame(marks, grid_points(marks, n, step, offset))
    # Input pixel p is map cell p / 2; with align_corners=False cell q sits at (q + 0.5) * 2 / size - 1.
    # Divided per axis, not by a tensor built from (w, h): that would freeze a traced size into a constant.
    cells = frame / STEM_STRIDE + 0.5
    norm = torch.stack([cells[..., 0] / w, cells[..., 1] / h], -1)
    return (norm * 2.0 - 1.0).reshape(-1, n, n, 2)


def anchor_centres(size_h: int, size_w: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """YuNet's cells: anchor-free points at each cell's corner, flattened row by row."""
    rows, cols = -(-size_h // stride), -(-size_w // stride)
    gy, gx = torch.meshgrid(torch.arange(rows, dtype=torch.float32), torch.arange(cols, dtype=torch.float32), indexing='ij')
    return gx.reshape(-1), gy.reshape(-1)


def decode_heads(heads: dict, size_h: int, size_w: int):
    """YuNet's raw heads -> scores [B,N] (sqrt(cls·obj)), boxes [B,N,4] and landmarks [B,N,10] in input px,
    as the SDK's decodeYunet does on the host."""
    scores, boxes, marks = [], [], []
    for s in STRIDES:
        gx, gy = anchor_centres(size_h, size_w, s)
        cls, obj, bbox, kps = heads[f'cls_{s}'][..., 0], heads[f'obj_{s}'][..., 0], heads[f'bbox_{s}'], heads[f'kps_{s}']
        scores.append(torch.sqrt(cls.clamp(0, 1) * obj.clamp(0, 1)))
        cx = (gx + bbox[..., 0]) * s
        cy = (gy + bbox[..., 1]) * s
        bw = torch.exp(bbox[..., 2]) * s
        bh = torch.exp(bbox[..., 3]) * s
        boxes.append(torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1))
        k = kps.reshape(*kps.shape[:-1], 5, 2)
        pts = torch.stack([(k[..., 0] + gx[:, None]) * s, (k[..., 1] + gy[:, None]) * s], -1)
        marks.append(pts.reshape(*kps.shape[:-1], 10))
    return torch.cat(scores, 1), torch.cat(boxes, 1), torch.cat(marks, 1)


def rgb_uint8_nhwc_to_bgr(image: torch.Tensor) -> torch.Tensor:
    """The bundle's input (uint8 NHWC RGB) -> YuNet's (float NCHW BGR 0..255); part of the graph."""
    x = image.permute(0, 3, 1, 2).float()
    return torch.index_select(x, 1, torch.tensor([2, 1, 0], device=image.device))
