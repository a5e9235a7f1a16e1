"""Initializes the v3 network: both branches from the reference models, and the adapter
(stem features -> MobileFaceNet's first-conv features) by ridge regression.

    /usr/bin/python3 toolchain/train/fit_adapter.py --labels build/labels/train.jsonl --out build/train/v3-init

For each face of `--images` training images, placed on the detector input at several scales: the
shared stem is sampled on the aligned grid (inputs), MobileFaceNet's first conv (before ReLU6) is
run on the cascade's pixel-aligned crop of the same face (targets); a quarter of the grid positions
of every face go into one least-squares fit with an L2 penalty on standardized inputs. Writes
`<out>/weights.pt` (the whole network's state) and `<out>/fit.json` (R² per channel and overall).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from design_v3 import ADAPTERS, MFN_CONV1_PRE, JointV3, rgb_uint8_nhwc_to_bgr  # noqa: E402
from export_v3 import save_v3  # noqa: E402
from onnx_import import OnnxModule  # noqa: E402
from v3_data import image_tensor, load_v3_labels, place, teacher_crops  # noqa: E402


def collect(net: JointV3, conv1: OnnxModule, data_root: str, items, size: int, rng: random.Random, keep: float, min_scale: float):
    xs, ys = [], []
    for item in items:
        p = place(data_root, item, size, rng, min_scale=min_scale)
        with torch.no_grad():
            stem = net.stem(rgb_uint8_nhwc_to_bgr(torch.from_numpy(p.canvas).unsqueeze(0)))
            feats = net.sample(stem, torch.from_numpy(p.marks))  # [K,16,n,n]
            target = conv1(teacher_crops(image_tensor(p.full), torch.from_numpy(p.marks_full)))  # [K,64,56,56]
        a = net.adapter
        # Each output position's receptive field as one row (C·kh·kw, the order of the conv's weight).
        x = F.unfold(feats, a.kernel_size, padding=a.padding, stride=a.stride).transpose(1, 2).reshape(-1, a.weight[0].numel())
        y = target.permute(0, 2, 3, 1).reshape(-1, target.shape[1])
        pick = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(rng.randrange(1 << 30))) < keep
        xs.append(x[pick])
        ys.append(y[pick])
    return torch.cat(xs).double(), torch.cat(ys).double()


def ridge(x: torch.Tensor, y: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """W [out,in], b [out] minimizing |y - xW' - b|² + lam·n·|W_std|² on standardized inputs."""
    mu, sd = x.mean(0), x.std(0).clamp(min=1e-6)
    xs = (x - mu) / sd
    ym = y.mean(0)
    a = xs.T @ xs + lam * x.shape[0] * torch.eye(x.shape[1], dtype=x.dtype)
    w_std = torch.linalg.solve(a, xs.T @ (y - ym))  # [in, out]
    w = (w_std / sd[:, None]).T
    b = ym - (mu / sd) @ w_std
    return w, b


def r2(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    pred = x @ w.T + b
    return 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0).clamp(min=1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--labels', required=True)
    ap.add_argument('--data', default='../shared/data')
    ap.add_argument('--models', default='../shared/data/models')
    ap.add_argument('--out', required=True)
    ap.add_argument('--images', type=int, default=300)
    ap.add_argument('--size', type=int, default=640)
    ap.add_argument('--lam', type=float, default=1e-3)
    ap.add_argument('--keep', type=float, default=0.25, help='fraction of grid positions used per face')
    ap.add_argument('--min-scale', type=float, default=0.3,
                    help="smallest placement scale, relative to the SDK's letterbox scale (0.9: faces at about the scale evaluation sees)")
    ap.add_argument('--adapter', choices=ADAPTERS, default='3x3',
                    help="'3x3s2': every template pixel, MobileFaceNet's first-conv footprint (R² 0.98); '3x3': a 3x3 conv on the 56x56 grid "
                         "(R² 0.95, a quarter of the samples); '1x1': the 56x56 grid (R² 0.80, 9x fewer multiply-adds)")
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.time()
    net = JointV3(Path(args.models) / 'yunet_s_640_640.onnx', Path(args.models) / 'mobilefacenet_128.onnx', adapter=args.adapter).eval()
    conv1 = OnnxModule(str(Path(args.models) / 'mobilefacenet_128.onnx'), ['input0'], [MFN_CONV1_PRE]).eval()
    items, _ = load_v3_labels(args.labels)
    rng = random.Random(args.seed)
    rng.shuffle(items)
    x, y = collect(net, conv1, args.data, items[: args.images], args.size, rng, args.keep, args.min_scale)
    n_fit = int(0.9 * x.shape[0])
    w, b = ridge(x[:n_fit], y[:n_fit], args.lam)
    held = r2(x[n_fit:], y[n_fit:], w, b)
    with torch.no_grad():
        net.adapter.weight.copy_(w.float().reshape(net.adapter.weight.shape))
        net.adapter.bias.copy_(b.float())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_v3(net, out / 'weights.pt')
    active = held[y.std(0) > 1e-3]
    info = {'adapter': args.adapter, 'images': args.images, 'positions': int(x.shape[0]), 'lambda': args.lam, 'r2_heldout_mean_active': float(active.mean()),
            'active_channels': int(active.numel()), 'seconds': round(time.time() - t0, 1)}
    (out / 'fit.json').write_text(json.dumps(info, indent=2))
    print(json.dumps(info))


if __name__ == '__main__':
    main()
