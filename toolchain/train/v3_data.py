"""Samples for the v3 design: a labelled image placed on the detector's square input at a random
scale (as the SDK's letterbox does, and smaller, so the shared stem sees faces of many sizes), with
the teacher's landmarks and raw embeddings, and the teacher's pixel-aligned 112x112 crop of each
face taken from the full-resolution image (what the cascade's recognizer sees)."""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from data import Sample, read_image
from design_v3 import template_points_in_frame


@dataclass
class LabelledFace:
    marks: np.ndarray  # [5,2] in the labelled image's pixels
    emb: np.ndarray  # [128] the teacher's unit embedding (not centred)
    score: float
    identity: int  # class index or -1


@dataclass
class LabelledImage:
    image: str
    canvas: dict | None
    faces: list[LabelledFace]


def load_v3_labels(path: str, min_score: float = 0.7, min_eye_px: float = 8.0) -> tuple[list[LabelledImage], dict[str, int]]:
    """Images with at least one confident face; the largest face of an image with an identity gets its class
    (identities seen at least twice)."""
    recs = [json.loads(line) for line in open(path) if line.strip()]
    counts: dict[str, int] = {}
    for r in recs:
        if r.get('identity') and r['faces']:
            counts[r['identity']] = counts.get(r['identity'], 0) + 1
    classes = {k: i for i, k in enumerate(sorted(k for k, n in counts.items() if n >= 2))}
    out: list[LabelledImage] = []
    for r in recs:
        faces = []
        for f in r['faces']:
            m = np.asarray(f['landmarks'], np.float32)
            if f['score'] < min_score or np.linalg.norm(m[0] - m[1]) < min_eye_px:
                continue
            faces.append(LabelledFace(m, np.asarray(f['embedding'], np.float32), float(f['score']), -1))
        if not faces:
            continue
        if r.get('identity') in classes:
            main = max(range(len(faces)), key=lambda i: np.linalg.norm(faces[i].marks[0] - faces[i].marks[1]))
            faces[main].identity = classes[r['identity']]
        out.append(LabelledImage(r['image'], r.get('canvas'), faces))
    return out, classes


def image_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> float [1,3,H,W] 0..255."""
    return torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1).unsqueeze(0)


def teacher_crops(rgb: torch.Tensor, marks: torch.Tensor) -> torch.Tensor:
    """The cascade's aligned faces: [K,3,112,112] MobileFaceNet input ((x-127.5)/128, RGB), bilinear, black outside."""
    _, _, h, w = rgb.shape
    steps = torch.arange(112, dtype=torch.float32)
    gy, gx = torch.meshgrid(steps, steps, indexing='ij')
    pts = template_points_in_frame(marks, torch.stack([gx, gy], -1).reshape(-1, 2))  # [K, 112*112, 2] image px
    grid = (pts + 0.5) * 2.0 / torch.tensor([w, h], dtype=torch.float32) - 1.0
    crops = F.grid_sample(rgb, grid.reshape(1, -1, 112, 2), mode='bilinear', padding_mode='zeros', align_corners=False)
    crops = crops.reshape(3, -1, 112, 112).transpose(0, 1)
    return (crops - 127.5) / 128.0


@dataclass
class Placed:
    """One training input: the image on the detector's canvas and where its faces went."""
    canvas: np.ndarray  # [S,S,3] uint8 RGB
    full: Image.Image | None  # the labelled image at full resolution (for the teacher's crops; None for a mosaic)
    marks_full: np.ndarray  # [K,5,2] in full-image pixels
    marks: np.ndarray  # [K,5,2] on the canvas
    embs: np.ndarray  # [K,128]
    identities: np.ndarray  # [K]


def place(data_root: str, item: LabelledImage, size: int, rng: random.Random, min_scale: float = 0.3, jitter: float = 0.0) -> Placed:
    """Letterboxes the image onto a size x size canvas at the SDK's scale times a random factor in [min_scale, 1]
    (log-uniform), at a random offset; landmarks follow. `jitter` moves each landmark by up to that fraction of
    the eye distance so the body learns to tolerate the detector's own landmarks."""
    full = read_image(data_root, Sample(item.image, item.canvas, []))
    w, h = full.size
    scale = min(size / w, size / h) * math.exp(rng.uniform(math.log(min_scale), 0.0))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    ox, oy = rng.randint(0, size - nw), rng.randint(0, size - nh)
    canvas = Image.new('RGB', (size, size))
    canvas.paste(full.resize((nw, nh), Image.BILINEAR), (ox, oy))
    marks_full = np.stack([f.marks for f in item.faces])
    # PIL's resize maps pixel u to (u + 0.5) * (nw / w) - 0.5, like sharp's.
    sx, sy = nw / w, nh / h
    marks = np.stack([(marks_full[..., 0] + 0.5) * sx - 0.5 + ox, (marks_full[..., 1] + 0.5) * sy - 0.5 + oy], -1)
    if jitter > 0:
        eye = np.linalg.norm(marks[:, 0] - marks[:, 1], axis=-1)[:, None, None]
        marks = marks + np.asarray([[rng.uniform(-1, 1) for _ in range(2)] for _ in range(marks.size // 2)], np.float32).reshape(marks.shape) * eye * jitter
    return Placed(np.asarray(canvas, dtype=np.uint8).copy(), full, marks_full.astype(np.float32), marks.astype(np.float32),
                  np.stack([f.emb for f in item.faces]), np.array([f.identity for f in item.faces]))


def place_mosaic(data_root: str, items: list[LabelledImage], size: int, rng: random.Random, jitter: float = 0.0, p_single: float = 0.4,
                 min_scale: float = 0.3) -> Placed:
    """One image on the whole canvas (large faces), or four images on its quarters (four times the faces for
    one detector pass, at half the scale): faces of every size at a lower cost per face."""
    if rng.random() < p_single:
        return place(data_root, items[rng.randrange(len(items))], size, rng, min_scale=min_scale, jitter=jitter)
    half = size // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    marks, embs, ids = [], [], []
    for ty in (0, half):
        for tx in (0, half):
            p = place(data_root, items[rng.randrange(len(items))], half, rng, min_scale=min_scale, jitter=jitter)
            canvas[ty:ty + half, tx:tx + half] = p.canvas
            marks.append(p.marks + np.array([tx, ty], np.float32))
            embs.append(p.embs)
            ids.append(p.identities)
    return Placed(canvas, None, np.zeros((0, 5, 2), np.float32), np.concatenate(marks), np.concatenate(embs), np.concatenate(ids))
