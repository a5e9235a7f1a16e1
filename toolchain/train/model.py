"""The joint network: shared backbone + FPN neck, a detection head (score, box, 5 landmarks)
and an embedding head, so one pass yields every face with its identity embedding.

Two embedding designs (`embedding=`):
- `dense` (FairMOT style): an embedding map over every cell of every stride; a face's embedding is
  read at the cell that detects it.
- `aligned`: the face's 5 landmarks give a similarity transform from the 112x112 ArcFace template
  to the frame; an 8x8 grid of the template is sampled (GridSample) from the stride-8 neck map
  and a small head turns it into the embedding. Geometry is normalized as in a two-stage
  pipeline, but the features are the shared ones and the head runs on a fixed number (top-K) of
  candidates, so the cost stays flat in the number of faces.

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


# The ArcFace alignment template (112x112 pixels): eyes, nose tip, mouth corners.
ARCFACE_TEMPLATE = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))
ROI_GRID = 8
ROI_STRIDE = STRIDES[0]


def template_to_frame(marks: torch.Tensor) -> torch.Tensor:
    """Least-squares similarity (scale, rotation, shift) mapping the template onto landmarks [N,5,2] -> [N,2,3].

    Closed form: with centred points as complex numbers, the scale-rotation is
    sum(conj(src) * dst) / sum(|src|^2). Plain tensor ops, so it exports to any ONNX opset.
    """
    src = marks.new_tensor(ARCFACE_TEMPLATE)
    src_c = src - src.mean(0)
    dst_mean = marks.mean(1, keepdim=True)
    dst_c = marks - dst_mean
    norm = (src_c * src_c).sum()
    a = (src_c[:, 0] * dst_c[..., 0] + src_c[:, 1] * dst_c[..., 1]).sum(-1) / norm
    b = (src_c[:, 0] * dst_c[..., 1] - src_c[:, 1] * dst_c[..., 0]).sum(-1) / norm
    m = src.mean(0)
    tx = dst_mean[:, 0, 0] - (a * m[0] - b * m[1])
    ty = dst_mean[:, 0, 1] - (b * m[0] + a * m[1])
    return torch.stack([torch.stack([a, -b, tx], -1), torch.stack([b, a, ty], -1)], 1)


def roi_grid(marks: torch.Tensor, fh: int, fw: int, grid: int = ROI_GRID, stride: int = ROI_STRIDE) -> torch.Tensor:
    """Sampling points of the aligned face on a stride-`stride` map of fh x fw cells, in GridSample's [-1, 1] units: [N,g,g,2]."""
    t = template_to_frame(marks)
    steps = (torch.arange(grid, dtype=marks.dtype, device=marks.device) + 0.5) * (112.0 / grid)
    gy, gx = torch.meshgrid(steps, steps, indexing='ij')
    pts = torch.stack([gx, gy, torch.ones_like(gx)], -1).reshape(-1, 3)  # [g*g, 3] template pixels
    frame = pts @ t.transpose(1, 2)  # [N, g*g, 2] frame pixels
    # Cell j's centre is at (j + 0.5) * stride; with align_corners=False it sits at 2 (j + 0.5) / W - 1.
    scale = frame.new_tensor([2.0 / (stride * fw), 2.0 / (stride * fh)])
    return (frame * scale - 1.0).reshape(-1, grid, grid, 2)


class RoiEmbedHead(nn.Module):
    """[N, C, 8, 8] aligned features -> [N, D]: two depthwise-separable convs (the second to 4x4), a 4x4
    depthwise "global" conv (MobileFaceNet's GDConv: a learned spatial weighting, unlike average
    pooling) and a linear projection."""

    def __init__(self, cin: int, emb_dim: int, mid: int = 128):
        super().__init__()
        self.body = nn.Sequential(dw_sep(cin, mid), dw_sep(mid, mid, 2), dw_sep(mid, mid))
        self.gdc = conv_bn(mid, mid, ROI_GRID // 2, groups=mid, act=False)
        self.gdc[0].padding = (0, 0)
        self.proj = nn.Sequential(nn.Conv2d(mid, emb_dim, 1, bias=False), nn.BatchNorm2d(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.gdc(self.body(x))).flatten(1)


class JointNet(nn.Module):
    """forward -> (levels, roi_source): per stride logits [B,1,H,W], box [B,4,H,W], landmarks [B,10,H,W] and,
    for the dense design, an embedding map [B,D,H,W] (None for `aligned`); roi_source is the stride-8 neck
    map the aligned design samples faces from."""

    def __init__(self, width: int = 1, emb_dim: int = 128, neck: int = 64, embedding: str = 'dense'):
        super().__init__()
        if embedding not in ('dense', 'aligned'):
            raise ValueError(f'embedding must be dense or aligned, got {embedding!r}')
        self.embedding = embedding
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
        if embedding == 'dense':
            self.emb_tower = nn.Sequential(dw_sep(neck, 96), dw_sep(96, 96))
            self.emb = nn.Conv2d(96, emb_dim, 1)
        else:
            self.roi_head = RoiEmbedHead(neck, emb_dim)
        nn.init.constant_(self.cls.bias, -4.6)  # prior 1%: focal loss starts stable

    def forward(self, x: torch.Tensor):
        s4 = self.stem(x)
        c3 = self.c3(s4)
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + F.interpolate(p5, size=c4.shape[-2:], mode='nearest')
        p3 = self.lateral[0](c3) + F.interpolate(p4, size=c3.shape[-2:], mode='nearest')
        outs = []
        roi_source = None
        for i, p in enumerate((p3, p4, p5)):
            p = self.smooth[i](p)
            if i == 0:
                roi_source = p
            d = self.det_tower(p)
            e = self.emb(self.emb_tower(p)) if self.embedding == 'dense' else None
            outs.append((self.cls(d), self.box(d), self.kps(d), e))
        return outs, roi_source

    def embed_faces(self, roi_source: torch.Tensor, marks: torch.Tensor) -> torch.Tensor:
        """Aligned design: embeddings (not normalized) [B, K, D] of K faces per image with landmarks [B,K,5,2]."""
        b, c, fh, fw = roi_source.shape
        k, g = marks.shape[1], ROI_GRID
        grid = roi_grid(marks.reshape(b * k, 5, 2), fh, fw).reshape(b, k * g, g, 2)
        # One GridSample per image for all its faces: [B, C, K*g, g], then faces to the batch axis.
        feats = F.grid_sample(roi_source, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
        feats = feats.reshape(b, c, k, g, g).transpose(1, 2).reshape(b * k, c, g, g)
        return self.roi_head(feats).reshape(b, k, -1)


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
        outs, roi_source = self.net(normalize_input(image))
        scores, boxes, marks, embs = [], [], [], []
        for (cls, box, kps, emb), s in zip(outs, STRIDES):
            sc, bx, mk = decode_level(cls, box, kps, s, getattr(self, f'ax{s}'), getattr(self, f'ay{s}'))
            scores.append(sc)
            boxes.append(bx)
            marks.append(mk)
            if emb is not None:
                embs.append(emb.flatten(2).transpose(1, 2))
        scores = torch.cat(scores, 1)
        top, idx = torch.topk(scores, self.top_k, dim=1)
        gather = lambda t: torch.gather(t, 1, idx.unsqueeze(-1).expand(-1, -1, t.shape[-1]))
        top_marks = gather(torch.cat(marks, 1))
        if embs:
            emb = gather(torch.cat(embs, 1))
        else:
            # Every candidate's landmarks select its aligned features: a fixed top-K, so a fixed cost.
            emb = self.net.embed_faces(roi_source, top_marks.reshape(image.shape[0], self.top_k, 5, 2))
        emb = emb / torch.sqrt((emb * emb).sum(-1, keepdim=True)).clamp(min=1e-6)
        return top, gather(torch.cat(boxes, 1)), top_marks, emb
