"""Trains the joint network on teacher labels, with checkpoints to resume from, then exports it.

    /usr/bin/python3 toolchain/train/train.py --labels build/labels/train.jsonl --out build/train/jetface-s --config cpu

Configs: `smoke` (a minute, for tests), `cpu` (the default bundle's run, about 40 minutes on 2 cores),
`gpu` (bigger batches and more steps; uses CUDA when present). Progress goes to stdout as JSON lines.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from data import MosaicDataset, load_labels  # noqa: E402
from export import export_onnx  # noqa: E402
from losses import JointLoss, build_targets  # noqa: E402
from model import ARCFACE_TEMPLATE, JointNet, normalize_input  # noqa: E402

CONFIGS = {
    'smoke': dict(size=160, batch=4, steps=60, lr=3e-3, export_size=320, width=1, checkpoint_every=10),
    'cpu': dict(size=320, batch=12, steps=5000, lr=3e-3, export_size=640, width=1, checkpoint_every=100),
    'gpu': dict(size=384, batch=64, steps=40000, lr=2e-3, export_size=640, width=2, checkpoint_every=1000),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--labels', required=True, help='teacher labels (jetface label)')
    ap.add_argument('--data', default='../shared/data', help='image root the labels refer to')
    ap.add_argument('--out', required=True, help='folder for checkpoints, log and the exported ONNX')
    ap.add_argument('--config', choices=CONFIGS, default='cpu')
    ap.add_argument('--steps', type=int, help='override the config\'s step count')
    ap.add_argument('--embedding', choices=('dense', 'aligned'), default='aligned',
                    help='dense: embedding map read at the detecting cell; aligned: landmarks -> GridSample of shared features -> head')
    ap.add_argument('--lambda-rec', type=float, default=1.0, help='fixed weight of L_rec')
    ap.add_argument('--learned-weights', action='store_true', help='uncertainty weighting instead of a fixed lambda')
    ap.add_argument('--threads', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--init', help='start from these weights (weights.pt or checkpoint.pt of an earlier run) with a fresh schedule')
    ap.add_argument('--export-only', action='store_true', help='export the latest checkpoint (or final weights) without training')
    ap.add_argument('--export-size', type=int, help='input side of the exported graph (default: the config\'s)')
    args = ap.parse_args()
    cfg = dict(CONFIGS[args.config])
    if args.steps:
        cfg['steps'] = args.steps
    if args.export_size:
        cfg['export_size'] = args.export_size
    cfg['embedding'] = args.embedding
    out = Path(args.out)
    ckpt_path = out / 'checkpoint.pt'
    if ckpt_path.exists():  # a resumed run keeps the design it started with
        cfg['embedding'] = torch.load(ckpt_path, map_location='cpu')['config'].get('embedding', 'dense')

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    out.mkdir(parents=True, exist_ok=True)

    samples, classes = load_labels(args.labels)
    if not samples:
        sys.exit(f'no labelled images in {args.labels}')
    dataset = MosaicDataset(samples, args.data, cfg['size'], seed=args.seed)
    net = JointNet(width=cfg['width'], embedding=cfg['embedding']).to(device)
    criterion = JointLoss(128, len(classes), lam=args.lambda_rec, learned=args.learned_weights).to(device)
    params = list(net.parameters()) + list(criterion.parameters())
    opt = torch.optim.AdamW(params, lr=cfg['lr'], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg['lr'], total_steps=cfg['steps'], pct_start=0.05)

    if args.export_only:
        source = out / 'weights.pt' if (out / 'weights.pt').exists() else ckpt_path
        saved = torch.load(source, map_location='cpu')
        net = JointNet(width=cfg['width'], embedding=saved['config'].get('embedding', 'dense'))
        net.load_state_dict(saved['net'])
        net.eval().cpu()
        log({'event': 'exported', 'from': str(source), **export_onnx(net, out, cfg['export_size'], args.data, samples)})
        return
    step = 0
    if args.init and not ckpt_path.exists():
        # Loose: the backbone and detection head carry over between the dense and aligned designs.
        missing, unexpected = net.load_state_dict(torch.load(args.init, map_location=device)['net'], strict=False)
        log({'event': 'initialized', 'from': args.init, 'new_modules': sorted({k.split('.')[0] for k in missing}),
             'dropped_modules': sorted({k.split('.')[0] for k in unexpected})})
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device)
        net.load_state_dict(ckpt['net'])
        criterion.load_state_dict(ckpt['loss'])
        opt.load_state_dict(ckpt['opt'])
        sched.load_state_dict(ckpt['sched'])
        step = ckpt['step']
        dataset.rng.setstate(ckpt['rng'])
        log({'event': 'resumed', 'step': step})
    log({'event': 'start', 'config': args.config, **cfg, 'images': len(samples), 'identities': len(classes), 'device': str(device),
         'params': sum(p.numel() for p in net.parameters()), 'learned_weights': args.learned_weights, 'lambda_rec': args.lambda_rec})

    net.train()
    t0 = time.time()
    window: list[dict[str, float]] = []
    while step < cfg['steps']:
        items = [dataset.item() for _ in range(cfg['batch'])]
        images = torch.from_numpy(np.stack([i[0] for i in items])).to(device)
        targets = [{k: v.to(device) for k, v in t.items()} for t in build_targets([i[1] for i in items], cfg['size'], 128)]
        outs, roi_source = net(normalize_input(images))
        faces = None
        if cfg['embedding'] == 'aligned':
            faces = face_batch(net, roi_source, [i[1] for i in items], dataset.rng, device)
        loss, parts = criterion(outs, targets, cfg['size'], faces)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        step += 1
        window.append({'loss': float(loss), **parts})
        if step % 10 == 0 or step == cfg['steps']:
            avg = {k: round(sum(w[k] for w in window) / len(window), 4) for k in window[0]}
            log({'event': 'step', 'step': step, 'lr': round(sched.get_last_lr()[0], 6), 'img_per_s': round(step * cfg['batch'] / (time.time() - t0), 2), **avg})
            window = []
        if step % cfg['checkpoint_every'] == 0 or step == cfg['steps']:
            tmp = ckpt_path.with_suffix('.tmp')
            torch.save({'net': net.state_dict(), 'loss': criterion.state_dict(), 'opt': opt.state_dict(), 'sched': sched.state_dict(),
                        'step': step, 'rng': dataset.rng.getstate(), 'config': cfg}, tmp)
            tmp.replace(ckpt_path)  # atomic: an interrupted save never corrupts the resume point
    torch.save({'net': net.state_dict(), 'config': cfg, 'classes': len(classes)}, out / 'weights.pt')
    net.eval().cpu()
    info = export_onnx(net, out, cfg['export_size'], args.data, samples)
    log({'event': 'exported', **info})


MIN_ROI_FACE = 12  # pixels: smaller faces carry little identity, and the teacher's embedding of them is noisy


def face_batch(net: JointNet, roi_source: torch.Tensor, batch_faces, rng: random.Random, device):
    """Aligned design: student embeddings of every usable labelled face, from landmarks jittered like a
    detector's (so the head learns to tolerate them), with the teachers' embeddings and identities."""
    per_image = [[f for f in faces if f.identity != -2 and min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= MIN_ROI_FACE]
                 for faces in batch_faces]
    k = max((len(fs) for fs in per_image), default=0)
    if k == 0:
        return None
    b = len(per_image)
    marks = np.tile(np.array(ARCFACE_TEMPLATE, np.float32), (b, k, 1, 1))  # padding: any valid geometry
    keep = np.zeros((b, k), bool)
    teacher, ident = [], []
    for i, fs in enumerate(per_image):
        for j, f in enumerate(fs):
            size = float(np.sqrt((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
            jitter = np.array([[rng.gauss(0, 0.03), rng.gauss(0, 0.03)] for _ in range(5)], np.float32) * size
            marks[i, j] = f.marks + jitter
            keep[i, j] = True
            teacher.append(f.emb)
            ident.append(f.identity)
    emb = net.embed_faces(roi_source, torch.from_numpy(marks).to(device))[torch.from_numpy(keep).to(device)]
    return emb, torch.from_numpy(np.stack(teacher)).to(device), torch.tensor(ident, dtype=torch.int64, device=device)


def log(record: dict) -> None:
    print(json.dumps(record), flush=True)


if __name__ == '__main__':
    main()
