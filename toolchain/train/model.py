"""The joint network: shared backbone + FPN neck, a detection head (score, box, 5 landmarks)
and an embedding head, all dense over three strides, so one pass yields every face with its
identity embedding.

Each cell of stride s has an anchor point a = ((gx + 0.5) s, (gy + 0.5) s); the heads predict,
in stride units, the face centre offset, log width/height and landmark offsets from a, plus a
face logit and a D-dimensional embedding. `JointExport` adds the decode, top-K and L2
normalization in-graph so the ONNX file meets the model contract in DESIGN.md.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDES = (8, 16, 32)


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def dw_sep(cin: int, cout: int, s: int = 1) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1: the cheap convolution of mobile nets."""
    return nn.Sequential(conv_bn(cin, cin, 3, s, groups=cin), conv_bn(cin, cout, 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1, depthwise 3x3, project 1x1 (linear), residual when shapes match."""

    def __init__(self, cin: int, cout: int, s: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.block = nn.Sequential(conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, s, groups=mid), conv_bn(mid, cout, 1, act=False))
        self.residual = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def stage(cin: int, cout: int, blocks: int, expand: int) -> nn.Sequential:
    return nn.Sequential(InvertedResidual(cin, cout, 2, expand), *[InvertedResidual(cout, cout, 1, expand) for _ in range(blocks - 1)])


class JointNet(nn.Module):
    """Returns per-stride dense maps: logits [B,1,H,W], box [B,4,H,W], landmarks [B,10,H,W], embedding [B,D,H,W]."""

    def __init__(self, width: int = 1, emb_dim: int = 128, neck: int = 64):
        super().__init__()
        c = [16 * width, 24 * width, 40 * width, 80 * width, 128 * width]
        self.stem = nn.Sequential(conv_bn(3, c[0], 3, 2), dw_sep(c[0], c[1], 2))  # stride 4
        self.c3 = stage(c[1], c[2], 3, 3)  # stride 8
        self.c4 = stage(c[2], c[3], 3, 3)  # stride 16
        self.c5 = stage(c[3], c[4], 3, 3)  # stride 32
        self.lateral = nn.ModuleList([conv_bn(ch, neck, 1) for ch in (c[2], c[3], c[4])])
        self.smooth = nn.ModuleList([dw_sep(neck, neck) for _ in STRIDES])
        self.det_tower = nn.Sequential(dw_sep(neck, neck), dw_sep(neck, neck))
        self.cls = nn.Conv2d(neck, 1, 1)
        self.box = nn.Conv2d(neck, 4, 1)
        self.kps = nn.Conv2d(neck, 10, 1)
        self.emb_tower = nn.Sequential(dw_sep(neck, 96), dw_sep(96, 96))
        self.emb = nn.Conv2d(96, emb_dim, 1)
        nn.init.constant_(self.cls.bias, -4.6)  # prior 1%: focal loss starts stable

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        s4 = self.stem(x)
        c3 = self.c3(s4)
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + F.interpolate(p5, size=c4.shape[-2:], mode='nearest')
        p3 = self.lateral[0](c3) + F.interpolate(p4, size=c3.shape[-2:], mode='nearest')
        outs = []
        for i, p in enumerate((p3, p4, p5)):
            p = self.smooth[i](p)
            d = self.det_tower(p)
            e = self.emb(self.emb_tower(p))
            outs.append((self.cls(d), self.box(d), self.kps(d), e))
        return outs


def normalize_input(image_nhwc_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB -> float NCHW in about [-1, 1]; part of the exported graph."""
    x = image_nhwc_uint8.permute(0, 3, 1, 2).float()
    return (x - 127.5) / 128.0


def anchor_grid(h: int, w: int, stride: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    gy, gx = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32), torch.arange(w, device=device, dtype=torch.float32), indexing='ij')
    return (gx + 0.5) * stride, (gy + 0.5) * stride


def decode_level(cls: torch.Tensor, box: torch.Tensor, kps: torch.Tensor, stride: int, ax: torch.Tensor, ay: torch.Tensor):
    """Dense maps of one stride -> flattened scores [B,N], boxes [B,N,4], landmarks [B,N,10] in input pixels."""
    b = cls.shape[0]
    cx = ax + box[:, 0] * stride
    cy = ay + box[:, 1] * stride
    w = torch.exp(box[:, 2].clamp(max=8.0)) * stride
    h = torch.exp(box[:, 3].clamp(max=8.0)) * stride
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1).reshape(b, -1, 4)
    kx = ax.unsqueeze(0) + kps[:, 0::2] * stride
    ky = ay.unsqueeze(0) + kps[:, 1::2] * stride
    marks = torch.stack([kx, ky], dim=-1)  # [B,5,H,W,2]
    marks = marks.permute(0, 2, 3, 1, 4).reshape(b, -1, 10)
    scores = torch.sigmoid(cls).reshape(b, -1)
    return scores, boxes, marks


class JointExport(nn.Module):
    """The deployable graph: uint8 NHWC image in; top-K scores, boxes, landmarks and unit embeddings out."""

    def __init__(self, net: JointNet, height: int, width: int, top_k: int):
        super().__init__()
        self.net = net
        self.top_k = top_k
        for s in STRIDES:
            ax, ay = anchor_grid((height + s - 1) // s, (width + s - 1) // s, s)
            self.register_buffer(f'ax{s}', ax, persistent=False)
            self.register_buffer(f'ay{s}', ay, persistent=False)

    def forward(self, image: torch.Tensor):
        outs = self.net(normalize_input(image))
        scores, boxes, marks, embs = [], [], [], []
        for (cls, box, kps, emb), s in zip(outs, STRIDES):
            sc, bx, mk = decode_level(cls, box, kps, s, getattr(self, f'ax{s}'), getattr(self, f'ay{s}'))
            scores.append(sc)
            boxes.append(bx)
            marks.append(mk)
            embs.append(emb.flatten(2).transpose(1, 2))
        scores = torch.cat(scores, 1)
        top, idx = torch.topk(scores, self.top_k, dim=1)
        gather = lambda t: torch.gather(t, 1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]))
        emb = gather(torch.cat(embs, 1))
        emb = emb / torch.sqrt((emb * emb).sum(-1, keepdim=True)).clamp(min=1e-6)
        return top, gather(torch.cat(boxes, 1)), gather(torch.cat(marks, 1)), emb
