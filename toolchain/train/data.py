"""Training samples from teacher labels: mosaics of labelled images with faces of many sizes.

A labels file (written by `jetface label`) holds, per image, the teacher's boxes, landmarks and
embeddings, and an identity for the image's main face where the data set gives one. Images
are read from the shared data folder at training time; nothing derived is stored.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

FLIP_ORDER = [1, 0, 2, 4, 3]  # mirror: eyes swap, mouth corners swap


@dataclass
class Face:
    box: np.ndarray  # 4
    marks: np.ndarray  # 5x2
    emb: np.ndarray  # D (teacher, unit)
    identity: int  # class index or -1


@dataclass
class Sample:
    image: str
    canvas: dict | None
    faces: list[Face]


def load_labels(path: str, min_score: float = 0.7) -> tuple[list[Sample], dict[str, int]]:
    """Reads a labels file; the main (largest) face of an image with an identity gets its class index."""
    samples: list[Sample] = []
    raw: list[tuple[dict, str | None]] = []
    counts: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            ident = rec.get('identity')
            if ident and rec['faces']:
                counts[ident] = counts.get(ident, 0) + 1
            raw.append((rec, ident))
    # Only identities seen at least twice teach the margin loss anything.
    classes = {k: i for i, k in enumerate(sorted(k for k, n in counts.items() if n >= 2))}
    # Teacher embeddings share a large common direction (mean pairwise cosine ~0.2): a student can
    # score that much by predicting the mean. Targets are centred on the data set's mean so only
    # identity-specific information is rewarded.
    all_emb = np.array([f['embedding'] for rec, _ in raw for f in rec['faces']], np.float32)
    mean_emb = all_emb.mean(0) if len(all_emb) else 0.0
    for rec, _ in raw:
        for f in rec['faces']:
            e = np.asarray(f['embedding'], np.float32) - mean_emb
            f['embedding'] = e / max(float(np.linalg.norm(e)), 1e-6)
    for rec, ident in raw:
        faces = [f for f in rec['faces'] if f['score'] >= min_score]
        if not faces and rec['faces']:
            continue
        areas = [(f['box'][2] - f['box'][0]) * (f['box'][3] - f['box'][1]) for f in faces]
        main = int(np.argmax(areas)) if faces else -1
        out = []
        for i, f in enumerate(faces):
            cls = classes.get(ident, -1) if (ident and i == main) else -1
            out.append(Face(np.array(f['box'], np.float32), np.array(f['landmarks'], np.float32), np.array(f['embedding'], np.float32), cls))
        samples.append(Sample(rec['image'], rec.get('canvas'), out))
    return samples, classes


def read_image(data_root: str, sample: Sample) -> Image.Image:
    img = Image.open(Path(data_root) / sample.image).convert('RGB')
    c = sample.canvas
    if c:  # rebuild the edge-padded canvas the teacher saw
        arr = np.asarray(img)
        pad_y = (c['offsetY'], c['size'] - arr.shape[0] - c['offsetY'])
        pad_x = (c['offsetX'], c['size'] - arr.shape[1] - c['offsetX'])
        img = Image.fromarray(np.pad(arr, (pad_y, pad_x, (0, 0)), mode='edge'))
    return img


class MosaicDataset:
    """Each item: a `size`x`size` canvas holding 1 to 4 randomly scaled, flipped, recoloured tiles."""

    def __init__(self, samples: list[Sample], data_root: str, size: int, seed: int = 0):
        self.samples = samples
        self.data_root = data_root
        self.size = size
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def item(self) -> tuple[np.ndarray, list[Face]]:
        r = self.rng
        s = self.size
        canvas = Image.new('RGB', (s, s), tuple(r.randint(0, 255) for _ in range(3)))
        faces: list[Face] = []
        layout = r.choice([1, 2, 4, 4])
        if layout == 1:
            cells = [(0, 0, s, s)]
        elif layout == 2:
            cut = r.randint(s // 3, 2 * s // 3)
            cells = [(0, 0, cut, s), (cut, 0, s, s)]
        else:
            cx, cy = r.randint(s // 3, 2 * s // 3), r.randint(s // 3, 2 * s // 3)
            cells = [(0, 0, cx, cy), (cx, 0, s, cy), (0, cy, cx, s), (cx, cy, s, s)]
        for (x0, y0, x1, y1) in cells:
            sample = self.samples[r.randrange(len(self.samples))]
            self._paste(canvas, faces, sample, x0, y0, x1 - x0, y1 - y0)
        return np.asarray(canvas, dtype=np.uint8).copy(), faces

    def _paste(self, canvas: Image.Image, faces: list[Face], sample: Sample, x0: int, y0: int, cw: int, ch: int) -> None:
        r = self.rng
        img = read_image(self.data_root, sample)
        w, h = img.size
        # Scale so the image covers the cell at a random zoom (faces from tiny to large).
        scale = max(cw / w, ch / h) * math.exp(r.uniform(-1.6, 0.5))
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        img = img.resize((nw, nh), Image.BILINEAR)
        flip = r.random() < 0.5
        if flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if r.random() < 0.2:
            img = img.filter(ImageFilter.GaussianBlur(r.uniform(0.5, 1.5)))
        arr = np.asarray(img, dtype=np.float32)
        arr = arr * r.uniform(0.6, 1.4) + r.uniform(-30, 30)  # contrast, brightness
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
        ox = r.randint(min(0, cw - nw), max(0, cw - nw))
        oy = r.randint(min(0, ch - nh), max(0, ch - nh))
        crop = img.crop((-ox, -oy, -ox + cw, -oy + ch))
        canvas.paste(crop, (x0, y0))
        for f in sample.faces:
            box = f.box * scale
            marks = f.marks * scale
            if flip:
                box = np.array([nw - box[2], box[1], nw - box[0], box[3]], np.float32)
                marks = marks[FLIP_ORDER].copy()
                marks[:, 0] = nw - marks[:, 0]
            box = box + np.array([ox + x0, oy + y0, ox + x0, oy + y0], np.float32)
            marks = marks + np.array([ox + x0, oy + y0], np.float32)
            # Keep faces mostly inside their cell; drop tiny ones (below what the teacher sees reliably).
            vis = _clip_area(box, x0, y0, x0 + cw, y0 + ch) / max(1e-6, (box[2] - box[0]) * (box[3] - box[1]))
            if vis < 0.6 or min(box[2] - box[0], box[3] - box[1]) < 6:
                if vis > 0.2:
                    faces.append(Face(box, marks, f.emb, -2))  # partly visible: ignored in loss, not negative
                continue
            faces.append(Face(box, marks, f.emb, f.identity))


def _clip_area(b: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> float:
    w = min(b[2], x1) - max(b[0], x0)
    h = min(b[3], y1) - max(b[1], y0)
    return max(0.0, w) * max(0.0, h)
