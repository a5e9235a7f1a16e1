"""Target assignment and the joint loss L = L_det + lambda * L_rec."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from data import Face
from model import STRIDES, anchor_grid, decode_level

# A face goes to the stride whose cells it spans about 3 to 10 of: small faces to stride 8.
LEVEL_LIMITS = ((0, 40), (40, 96), (96, 1e9))


def build_targets(batch_faces: list[list[Face]], size: int, emb_dim: int) -> list[dict[str, torch.Tensor]]:
    """Per stride: cls (1 face, 0 background, -1 ignore), gt box, landmarks, teacher embedding, class id."""
    b = len(batch_faces)
    levels = []
    for s, (lo, hi) in zip(STRIDES, LEVEL_LIMITS):
        n = (size + s - 1) // s
        cls = np.zeros((b, n, n), np.float32)
        box = np.zeros((b, n, n, 4), np.float32)
        kps = np.zeros((b, n, n, 10), np.float32)
        emb = np.zeros((b, n, n, emb_dim), np.float32)
        ident = np.full((b, n, n), -1, np.int64)
        owner = np.full((b, n, n), np.inf, np.float32)  # area of the face owning a cell: the smaller wins
        centers = (np.arange(n, dtype=np.float32) + 0.5) * s
        for i, faces in enumerate(batch_faces):
            for f in faces:
                x1, y1, x2, y2 = f.box
                w, h = x2 - x1, y2 - y1
                fs = math.sqrt(max(w * h, 1.0))
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                radius = max(0.6 * s, 0.15 * fs)
                cols = np.where((np.abs(centers - cx) <= radius) & (centers > x1) & (centers < x2))[0]
                rows = np.where((np.abs(centers - cy) <= radius) & (centers > y1) & (centers < y2))[0]
                if f.identity == -2 or not (lo <= fs < hi):
                    # Partly visible faces, and faces near this level's size range, are neither face nor background here.
                    near = f.identity == -2 or (lo * 0.7 <= fs < hi * 1.4)
                    if near:
                        for r_ in rows:
                            for c_ in cols:
                                if cls[i, r_, c_] == 0:
                                    cls[i, r_, c_] = -1
                    continue
                area = w * h
                for r_ in rows:
                    for c_ in cols:
                        if area < owner[i, r_, c_]:
                            owner[i, r_, c_] = area
                            cls[i, r_, c_] = 1
                            box[i, r_, c_] = f.box
                            kps[i, r_, c_] = f.marks.reshape(-1)
                            emb[i, r_, c_] = f.emb
                            ident[i, r_, c_] = f.identity
        levels.append({k: torch.from_numpy(v) for k, v in dict(cls=cls, box=box, kps=kps, emb=emb, ident=ident).items()})
    return levels


def giou_loss(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    ix1, iy1 = torch.max(p[:, 0], g[:, 0]), torch.max(p[:, 1], g[:, 1])
    ix2, iy2 = torch.min(p[:, 2], g[:, 2]), torch.min(p[:, 3], g[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (p[:, 2] - p[:, 0]).clamp(min=0) * (p[:, 3] - p[:, 1]).clamp(min=0)
    ag = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    union = ap + ag - inter + 1e-6
    ex1, ey1 = torch.min(p[:, 0], g[:, 0]), torch.min(p[:, 1], g[:, 1])
    ex2, ey2 = torch.max(p[:, 2], g[:, 2]), torch.max(p[:, 3], g[:, 3])
    enclose = (ex2 - ex1) * (ey2 - ey1) + 1e-6
    return (1 - inter / union + (enclose - union) / enclose).mean()


class ArcMargin(nn.Module):
    """Additive angular margin softmax (ArcFace) over identity classes."""

    def __init__(self, dim: int, classes: int, scale: float = 32.0, margin: float = 0.3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max(classes, 1), dim) * 0.01)
        self.scale, self.margin = scale, margin

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(emb), F.normalize(self.weight)).clamp(-1 + 1e-6, 1 - 1e-6)
        theta = torch.acos(cos)
        target = torch.cos(theta + self.margin)
        onehot = F.one_hot(labels, cos.shape[1]).bool()
        logits = torch.where(onehot, target, cos) * self.scale
        return F.cross_entropy(logits, labels)


class JointLoss(nn.Module):
    """L = L_det + lambda * L_rec, or with `learned=True` uncertainty weighting (Kendall et al.,
    as JDE/FairMOT use): L = exp(-s_det) L_det + exp(-s_rec) L_rec + s_det + s_rec."""

    def __init__(self, emb_dim: int, classes: int, lam: float = 1.0, learned: bool = False, arc_weight: float = 0.5, dist_weight: float = 4.0):
        super().__init__()
        self.arc = ArcMargin(emb_dim, classes)
        self.lam, self.learned, self.arc_weight, self.dist_weight = lam, learned, arc_weight, dist_weight
        self.s_det = nn.Parameter(torch.tensor(0.0))
        self.s_rec = nn.Parameter(torch.tensor(0.0))

    def forward(self, outs, targets, size: int, faces=None) -> tuple[torch.Tensor, dict[str, float]]:
        """`faces` (aligned design): (student embeddings [N,D], teacher embeddings [N,D], identities [N]) of the
        batch's faces; without it the student's embeddings are read from the dense map at positive cells."""
        cls_l, box_l, kps_l = [], [], []
        dense_s, dense_t, dense_id = [], [], []
        npos = sum(float((t['cls'] == 1).sum()) for t in targets)
        npos = max(npos, 1.0)
        for (cls, box, kps, emb), t, s in zip(outs, targets, STRIDES):
            n = cls.shape[-1]
            ax, ay = anchor_grid(n, n, s)
            logits = cls[:, 0]
            valid = t['cls'] >= 0
            cls_l.append(sigmoid_focal(logits[valid], t['cls'][valid]).sum() / npos)
            pos = t['cls'] == 1
            if pos.any():
                _, pboxes, pmarks = decode_level(cls, box, kps, s, ax, ay)
                pb = pboxes.reshape(cls.shape[0], n, n, 4)[pos]
                pm = pmarks.reshape(cls.shape[0], n, n, 10)[pos]
                gb = t['box'][pos]
                fsz = torch.sqrt(((gb[:, 2] - gb[:, 0]) * (gb[:, 3] - gb[:, 1])).clamp(min=1)).unsqueeze(1)
                box_l.append(giou_loss(pb, gb) * pos.sum() / npos)
                kps_l.append((F.smooth_l1_loss(pm / fsz, t['kps'][pos] / fsz, beta=0.02, reduction='none').sum(1)).sum() / npos)
                if emb is not None:
                    dense_s.append(emb.permute(0, 2, 3, 1)[pos])
                    dense_t.append(t['emb'][pos])
                    dense_id.append(t['ident'][pos])
        zero = outs[0][0].sum() * 0
        l_cls = sum(cls_l)
        l_box = sum(box_l) if box_l else zero
        l_kps = sum(kps_l) if kps_l else zero
        if faces is None and dense_s:
            faces = (torch.cat(dense_s), torch.cat(dense_t), torch.cat(dense_id))
        l_dist = l_arc = l_rel = zero
        spread = 0.0
        if faces is not None and len(faces[0]):
            pe, te, ident = F.normalize(faces[0], dim=1), faces[1], faces[2]
            l_dist = (1 - (pe * te).sum(1)).mean()
            has_id = ident >= 0
            if has_id.any():
                l_arc = self.arc(pe[has_id], ident[has_id])
            # Relational distillation: the student's cosine matrix over the batch's faces should be the
            # teacher's. Unlike per-face cosine it cannot be met by one shared direction.
            l_rel = F.mse_loss(pe @ pe.T, te @ te.T) * 10.0
            spread = float((pe @ pe.T).mean())
        l_det = l_cls + 2.0 * l_box + 1.0 * l_kps
        l_rec = self.dist_weight * l_dist + self.arc_weight * l_arc + l_rel
        if self.learned:
            total = torch.exp(-self.s_det) * l_det + torch.exp(-self.s_rec) * l_rec + self.s_det + self.s_rec
        else:
            total = l_det + self.lam * l_rec
        parts = dict(cls=float(l_cls), box=float(l_box), kps=float(l_kps), dist=float(l_dist), arc=float(l_arc), rel=float(l_rel), spread=spread, det=float(l_det), rec=float(l_rec))
        if self.learned:
            parts.update(s_det=float(self.s_det), s_rec=float(self.s_rec))
        return total, parts


def sigmoid_focal(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
    pt = p * target + (1 - p) * (1 - target)
    w = alpha * target + (1 - alpha) * (1 - target)
    return w * ce * (1 - pt) ** gamma
