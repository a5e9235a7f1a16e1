"""Joint fine-tuning of the v3 network (design_v3.py) from its teacher-initialized weights:
L = L_det + λ·L_rec, back-propagated through the shared stem into both branches.

    /usr/bin/python3 toolchain/train/fit_adapter.py --labels build/labels/train.jsonl --out build/train/v3-init
    /usr/bin/python3 toolchain/train/train_v3.py --labels build/labels/train.jsonl --init build/train/v3-init/weights.pt \
        --out build/train/v3 --config cpu

- L_det: the teacher's labels in dense form. The frozen reference YuNet labels every cell of the same
  input (face/objectness probabilities, box and landmark offsets); the student's detection branch is
  held to them (KL of the probabilities, smooth-L1 of the offsets where the teacher sees a face).
- L_rec: mimicking of the teacher's embedding of the same face (the cascade's pixel-aligned crop,
  from the labels): raw cosine + cosine of the mean-centred embeddings + relational (the batch's
  cosine matrix against the teacher's), optionally (`--arc-weight`) an ArcFace margin softmax on the
  identities of LFW-train and CelebA, its class centres started from the teacher's mean embedding
  per identity (off by default: it raised DevTrain, whose people are among the training
  identities, and lowered DevTest; see docs/BENCHMARKS.md).
- Landmarks that place the aligned grid are jittered (3% of the eye distance by default) so the body
  tolerates the detector's own landmarks; faces come at random scales (the stem is scale-specific),
  one image per canvas or four (a mosaic: four times the faces for one detector pass).

Configs: `smoke` (seconds, for tests), `cpu` (the default bundle's run on 2 cores). A checkpoint is
written atomically every `checkpoint_every` steps; rerunning the same command resumes. Progress is
printed as JSON lines; the result is `<out>/weights.pt`, then export_v3.py writes the ONNX.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from design_v3 import STRIDES, YUNET_HEADS, rgb_uint8_nhwc_to_bgr  # noqa: E402
from export_v3 import export_v3, load_v3, save_v3  # noqa: E402
from onnx_import import OnnxModule  # noqa: E402
from v3_data import load_v3_labels, place_mosaic  # noqa: E402

CONFIGS = {
    'smoke': dict(size=320, images=2, faces=4, steps=4, lr=1e-4, checkpoint_every=2, export_size=320),
    'cpu': dict(size=640, images=2, faces=8, steps=1200, lr=1e-4, checkpoint_every=50, export_size=640),
}


def det_loss(student: dict, teacher: dict) -> torch.Tensor:
    """Dense distillation of the detection heads: KL of cls/obj probabilities everywhere, smooth-L1 of box and
    landmark offsets at cells where the teacher's score is at least 0.3."""
    total = 0.0
    for s in STRIDES:
        for k in ('cls', 'obj'):
            p = student[f'{k}_{s}'].clamp(1e-6, 1 - 1e-6)
            q = teacher[f'{k}_{s}'].clamp(1e-6, 1 - 1e-6)
            total = total + (q * (q.log() - p.log()) + (1 - q) * ((1 - q).log() - (1 - p).log())).mean()
        score = torch.sqrt(teacher[f'cls_{s}'] * teacher[f'obj_{s}'])[..., 0]
        mask = (score >= 0.3).float()
        if mask.sum() > 0:
            for k in ('bbox', 'kps'):
                d = F.smooth_l1_loss(student[f'{k}_{s}'], teacher[f'{k}_{s}'], reduction='none', beta=0.1).mean(-1)
                total = total + (d * mask).sum() / mask.sum()
    return total


class ArcMargin(torch.nn.Module):
    """Additive angular margin softmax (ArcFace) over identity classes."""

    def __init__(self, centres: torch.Tensor, margin: float = 0.3, scale: float = 32.0):
        super().__init__()
        self.weight = torch.nn.Parameter(F.normalize(centres, dim=1))
        self.margin, self.scale = margin, scale

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.normalize(emb, dim=1) @ F.normalize(self.weight, dim=1).T
        theta = torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6))
        target = torch.cos(theta + self.margin)
        onehot = F.one_hot(labels, cos.shape[1]).bool()
        return F.cross_entropy(self.scale * torch.where(onehot, target, cos), labels)


def rec_loss(student: torch.Tensor, teacher: torch.Tensor, mean: torch.Tensor, ids: torch.Tensor, arc: ArcMargin, arc_weight: float) -> tuple[torch.Tensor, dict]:
    s = F.normalize(student, dim=1)
    raw = (1 - (s * teacher).sum(1)).mean()
    centred = (1 - F.cosine_similarity(s - mean, teacher - mean, dim=1)).mean()
    relational = ((s @ s.T - teacher @ teacher.T) ** 2).mean()
    labelled = ids >= 0
    margin = arc(s[labelled], ids[labelled]) if labelled.any() and arc_weight > 0 else s.sum() * 0
    loss = raw + centred + 10 * relational + arc_weight * margin
    return loss, {'cos': float(1 - raw), 'centred_cos': float(1 - centred), 'rel': float(relational), 'arc': float(margin)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--labels', required=True)
    ap.add_argument('--data', default='../shared/data')
    ap.add_argument('--models', default='../shared/data/models')
    ap.add_argument('--init', required=True, help='weights.pt of fit_adapter.py (or of an earlier run)')
    ap.add_argument('--out', required=True)
    ap.add_argument('--config', choices=CONFIGS, default='cpu')
    ap.add_argument('--steps', type=int)
    ap.add_argument('--lr', type=float, help="override the config's learning rate (the adapter's is 10x)")
    ap.add_argument('--shared-lr-scale', type=float, default=1.0,
                    help="learning rate of the shared stem and the detection branch relative to the body's (0.1 keeps detection near the teacher's)")
    ap.add_argument('--lambda-rec', type=float, default=1.0)
    ap.add_argument('--arc-weight', type=float, default=0.0,
                    help='weight of the ArcFace term in L_rec (0: mimicking only; identity labels overfit the ~1,500 training identities)')
    ap.add_argument('--holdout', help='a pair list of holdout_pairs.py: every image of its people is left out of training')
    ap.add_argument('--snapshot-every', type=int, default=0,
                    help='also keep weights-<step>.pt every N steps, to select a step on held-out pairs afterwards')
    ap.add_argument('--skip-blocks', default='',
                    help="comma-separated MobileFaceNet residual blocks to drop (a slimmer body distilled from --init's), e.g. 2,4,7,9,11")
    ap.add_argument('--jitter', type=float, default=0.03, help='landmark jitter, fraction of the eye distance')
    ap.add_argument('--single-share', type=float, default=0.4,
                    help='share of training inputs that are one image on the whole canvas (the rest are 4-image mosaics, faces at half the scale)')
    ap.add_argument('--min-scale', type=float, default=0.3, help="smallest placement scale, relative to the SDK's letterbox scale")
    ap.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-export', action='store_true')
    args = ap.parse_args()
    cfg = dict(CONFIGS[args.config])
    if args.steps:
        cfg['steps'] = args.steps
    if args.lr:
        cfg['lr'] = args.lr
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')  # the same code trains on CUDA where present
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = Path(args.models)

    items, classes = load_v3_labels(args.labels)
    if args.holdout:
        held = {w for line in open(args.holdout) for w in line.split() if not w.isdigit()}
        items = [it for it in items if not (it.image.startswith('lfw/') and it.image.split('/')[2] in held)]
        print(json.dumps({'holdout_people': len(held), 'training_images': len(items)}), flush=True)
    embs = torch.from_numpy(np.stack([f.emb for it in items for f in it.faces]))
    mean = embs.mean(0)
    centres = torch.zeros(max(1, len(classes)), embs.shape[1])
    for it in items:
        for f in it.faces:
            if f.identity >= 0:
                centres[f.identity] += torch.from_numpy(f.emb)
    mean = mean.to(device)
    skip = tuple(int(b) for b in args.skip_blocks.split(',') if b) if args.skip_blocks else None
    net = load_v3(args.init, str(models), skip).train().to(device)
    teacher = OnnxModule(str(models / 'yunet_s_640_640.onnx'), ['input'], YUNET_HEADS).eval().to(device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    arc = ArcMargin(centres + 1e-6).to(device)
    groups = [
        {'params': list(net.adapter.parameters()) + list(arc.parameters()), 'lr': cfg['lr'] * 10},
        {'params': list(net.body.parameters()), 'lr': cfg['lr']},
        {'params': list(net.stem.parameters()) + list(net.detector.parameters()), 'lr': cfg['lr'] * args.shared_lr_scale},
    ]
    opt = torch.optim.Adam(groups)
    base_lrs = [g['lr'] for g in groups]
    step = 0
    ckpt_path = out / 'checkpoint.pt'
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device)
        net.load_state_dict(ckpt['state'])
        arc.load_state_dict(ckpt['arc'])
        opt.load_state_dict(ckpt['opt'])
        step = ckpt['step']
        print(json.dumps({'resumed': step}), flush=True)
    rng = random.Random(args.seed * 7919 + step)
    t0 = time.time()
    while step < cfg['steps']:
        # Cosine decay after a short warm-up.
        frac = step / max(1, cfg['steps'])
        scale = min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * frac))
        for g, lr in zip(opt.param_groups, base_lrs):
            g['lr'] = lr * scale
        placed = [place_mosaic(args.data, items, cfg['size'], rng, jitter=args.jitter, p_single=args.single_share, min_scale=args.min_scale)
                  for _ in range(cfg['images'])]
        x = rgb_uint8_nhwc_to_bgr(torch.from_numpy(np.stack([p.canvas for p in placed])).to(device))
        with torch.no_grad():
            t_heads = dict(zip(YUNET_HEADS, teacher(x)))
        stem, s_heads = net(x)
        l_det = det_loss(s_heads, t_heads)
        students, targets, ids = [], [], []
        for b, p in enumerate(placed):
            eye = np.linalg.norm(p.marks[:, 0] - p.marks[:, 1], axis=-1)
            pick = [i for i in np.argsort(-eye) if eye[i] >= 6][: cfg['faces']]
            if not pick:
                continue
            students.append(net.embed(stem[b:b + 1], torch.from_numpy(p.marks[pick]).to(device)))
            targets.append(torch.from_numpy(p.embs[pick]).to(device))
            ids.append(torch.from_numpy(p.identities[pick]).to(device))
        if students:
            l_rec, parts = rec_loss(torch.cat(students), torch.cat(targets), mean, torch.cat(ids).long(), arc, args.arc_weight)
        else:
            l_rec, parts = stem.sum() * 0, {}
        loss = l_det + args.lambda_rec * l_rec
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        step += 1
        if step % 10 == 0 or step == cfg['steps']:
            print(json.dumps({'step': step, 'loss': round(float(loss), 4), 'det': round(float(l_det), 4), 'rec': round(float(l_rec), 4),
                              **{k: round(v, 4) for k, v in parts.items()}, 'faces': int(sum(len(t) for t in targets)),
                              's_per_step': round((time.time() - t0) / 10, 2)}), flush=True)
            t0 = time.time()
        if step % cfg['checkpoint_every'] == 0 or step == cfg['steps']:
            tmp = out / 'checkpoint.pt.tmp'
            torch.save({'step': step, 'state': net.state_dict(), 'arc': arc.state_dict(), 'opt': opt.state_dict(), 'config': cfg}, tmp)
            os.replace(tmp, ckpt_path)
        if args.snapshot_every and step % args.snapshot_every == 0:
            save_v3(net, out / f'weights-{step}.pt')
    net = net.cpu()
    save_v3(net, out / 'weights.pt')
    if not args.no_export:
        info = export_v3(net.eval(), out, cfg['export_size'], 200, 0.5, 0.3, args.data, args.labels)
        print(json.dumps({'exported': info}), flush=True)


if __name__ == '__main__':
    main()
