"""ONNX export of the v3 network with decode, score threshold and NMS inside the graph.

    /usr/bin/python3 toolchain/train/export_v3.py --weights build/train/v3/weights.pt --out build/train/v3

The graph takes the bundle's uint8 NHWC RGB image and returns only the faces that survive the
score threshold and ONNX NonMaxSuppression (at most `--max-faces`), so the recognition body runs on
real faces, K of them: scores [1,K], boxes [1,K,4], landmarks [1,K,10], unit embeddings [1,K,128].
A reference run (image + PyTorch outputs) is written beside it for `jetface bundle joint`.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).parent))
from design_v3 import JointV3, decode_heads, rgb_uint8_nhwc_to_bgr  # noqa: E402
from export import reference_image  # noqa: E402
from v3_data import load_v3_labels  # noqa: E402

OPSET = 16  # GridSample


class _NonMaxSuppression(torch.autograd.Function):
    """Greedy NMS over one image's boxes [1,N,4] and scores [1,1,N]: selected indices [M,3] (batch, class, box)
    in descending score order, as ONNX NonMaxSuppression returns them (and as it is exported)."""

    @staticmethod
    def forward(ctx, boxes, scores, max_out: int, iou: float, score_threshold: float):  # noqa: ARG004
        b, s = boxes[0], scores[0, 0]
        order = torch.argsort(s, descending=True)
        order = order[s[order] > score_threshold]
        keep: list[int] = []
        area = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
        for i in order.tolist():
            if len(keep) >= max_out:
                break
            if keep:
                k = torch.tensor(keep)
                x1 = torch.maximum(b[k, 0], b[i, 0]); y1 = torch.maximum(b[k, 1], b[i, 1])
                x2 = torch.minimum(b[k, 2], b[i, 2]); y2 = torch.minimum(b[k, 3], b[i, 3])
                inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
                if bool((inter / (area[k] + area[i] - inter).clamp(min=1e-9) > iou).any()):
                    continue
            keep.append(i)
        idx = torch.tensor(keep, dtype=torch.int64)
        return torch.stack([torch.zeros_like(idx), torch.zeros_like(idx), idx], 1)

    @staticmethod
    def symbolic(g, boxes, scores, max_out, iou, score_threshold):
        return g.op('NonMaxSuppression', boxes, scores,
                    g.op('Constant', value_t=torch.tensor([max_out], dtype=torch.int64)),
                    g.op('Constant', value_t=torch.tensor([iou], dtype=torch.float32)),
                    g.op('Constant', value_t=torch.tensor([score_threshold], dtype=torch.float32)),
                    center_point_box_i=0)


def rgb_stem(net: JointV3) -> JointV3:
    """A copy of `net` whose stem reads RGB: the first conv's input channels reversed. The stem is
    YuNet's, trained on BGR; swapping its weights instead of the image's channels removes a Gather
    over the whole frame from the graph (about 2-4 ms a frame on the CPU EP)."""
    net = copy.deepcopy(net)
    with torch.no_grad():
        w = net.stem.tensor(net.stem.nodes[0].input[1])
        w.copy_(w.flip(1))
    return net


class JointV3Export(nn.Module):
    """uint8 NHWC RGB [1,H,W,3] -> the K surviving faces' scores, boxes, landmarks and unit embeddings."""

    def __init__(self, net: JointV3, max_faces: int, score_threshold: float, iou: float, fixed_k: bool = False):
        super().__init__()
        self.net, self.max_faces, self.score_threshold, self.iou = rgb_stem(net), max_faces, score_threshold, iou
        self.fixed_k = fixed_k

    def forward(self, image: torch.Tensor):
        stem, heads = self.net(image.permute(0, 3, 1, 2).float())  # RGB: rgb_stem took over the BGR swap
        # The anchors follow the image's own size (traced, so a graph exported with dynamic height and
        # width decodes any multiple of 32; a static export folds them to constants).
        scores, boxes, marks = decode_heads(heads, image.shape[1], image.shape[2])
        sel = _NonMaxSuppression.apply(boxes, scores.unsqueeze(1), self.max_faces, self.iou, self.score_threshold)
        idx = sel[:, 2]
        s = scores[0].index_select(0, idx)
        if self.fixed_k:
            # Static shapes for engines that want them: the survivors keep their scores, every other
            # candidate gets 0, and TopK takes exactly max_faces (padding scores 0 fall under any threshold).
            kept = torch.zeros_like(scores[0]).scatter(0, idx, torch.ones_like(idx, dtype=scores.dtype))
            s, idx = (scores[0] * kept).topk(self.max_faces)
        bx = boxes[0].index_select(0, idx)
        mk = marks[0].index_select(0, idx)
        emb = self.net.embed(stem, mk.reshape(-1, 5, 2))
        emb = emb / torch.sqrt((emb * emb).sum(-1, keepdim=True)).clamp(min=1e-6)
        return s.unsqueeze(0), bx.unsqueeze(0), mk.unsqueeze(0), emb.unsqueeze(0)


def write_reference(refdir: Path, image: np.ndarray, outputs, names: list[str]) -> None:
    """The input and PyTorch's outputs, for checkExport in onnxruntime-node."""
    refdir.mkdir(parents=True, exist_ok=True)
    image.tofile(refdir / 'image.u8')
    for name, t in zip(names, outputs):
        t.numpy().astype(np.float32).tofile(refdir / f'{name}.f32')
    (refdir / 'reference.json').write_text(json.dumps({'input': {'name': 'image', 'shape': [1, *image.shape]},
                                                       'outputs': {n: list(t.shape) for n, t in zip(names, outputs)}}, indent=2))


def count_macs(net: JointV3, size: int) -> tuple[float, float]:
    """Multiply-adds of the shared part over the whole input, and of the per-face part for one face."""
    totals = {'shared': 0.0, 'face': 0.0}
    where = ['shared']

    def conv_macs(x, w, y):
        return w.shape[1] * w.shape[2] * w.shape[3] * y.numel() / y.shape[0]

    import torch.nn.functional as F
    orig = F.conv2d

    def counting(x, w, b=None, *a, **k):
        y = orig(x, w, b, *a, **k)
        totals[where[0]] += conv_macs(x, w, y)
        return y

    F.conv2d = counting
    try:
        with torch.no_grad():
            stem, _ = net(torch.zeros(1, 3, size, size))
            where[0] = 'face'
            net.embed_features(torch.zeros(1, stem.shape[1], net.sample_size, net.sample_size))
    finally:
        F.conv2d = orig
    return totals['shared'], totals['face']


def export_v3(net: JointV3, out: Path, size: int, max_faces: int, score_threshold: float, iou: float, data_root: str, labels: str,
              fixed_k: bool = False, max_size: int | None = None) -> dict:
    """`max_size`: export with dynamic height and width (multiples of 32 from `size` up to `max_size`), so
    the engine can feed a large frame at its own resolution; `size` stays the reference and default input."""
    if max_size is not None and (fixed_k or max_size < size or max_size % 32 or size % 32):
        raise ValueError(f'--max-size {max_size}: needs sizes that are multiples of 32, max ≥ --size {size}, and no --fixed-k')
    model = JointV3Export(net.eval(), max_faces, score_threshold, iou, fixed_k).eval()
    items, _ = load_v3_labels(labels)
    image = reference_image(data_root, items, size)
    x = torch.from_numpy(image).unsqueeze(0)
    with torch.no_grad():  # the RGB stem must compute what the trained BGR stem computes
        drift = float((model.net.stem(x.permute(0, 3, 1, 2).float()) - net.stem(rgb_uint8_nhwc_to_bgr(x))).abs().max())
    if drift > 1e-3:
        raise RuntimeError(f'the RGB stem differs from the trained stem by {drift} on the reference image')
    onnx_path = out / 'model.onnx'
    names = ['scores', 'boxes', 'landmarks', 'embeddings']
    with torch.no_grad():
        ref = model(x)
        torch.onnx.export(model, (x,), str(onnx_path), opset_version=OPSET, input_names=['image'], output_names=names,
                          dynamic_axes={**({} if fixed_k else {n: {1: 'faces'} for n in names}),
                                        **({'image': {1: 'height', 2: 'width'}} if max_size else {})}, do_constant_folding=True)
    write_reference(out / 'reference', image, ref, names)
    if max_size:
        # A second, wider input (the image beside its mirror), so `bundle joint` also checks the dynamic
        # path: anchors, sampling and NMS at a size the graph was not traced at.
        wide = np.ascontiguousarray(np.concatenate([image, image[:, ::-1]], 1)[:, :min(max_size, size + size // 2)])
        with torch.no_grad():
            write_reference(out / 'reference-wide', wide, model(torch.from_numpy(wide).unsqueeze(0)), names)
    shared, face = count_macs(net, size)
    info = {'onnx': str(onnx_path), 'design': 'v3', 'adapter': net.adapter_kind, 'skip_blocks': list(net.skip_blocks), 'size': size, **({'max_size': max_size} if max_size else {}), 'top_k': max_faces, 'opset': OPSET,
            # fixed K: exactly top_k outputs (the host filters the zero-score padding and runs NMS as for v1/v2)
            **({'fixed_k': True, 'score_floor': score_threshold} if fixed_k else {'nms': {'scoreThreshold': score_threshold, 'iouThreshold': iou}}),
            'gflops': round(2 * shared / 1e9, 3), 'gflops_per_face': round(2 * face / 1e9, 3),
            'params': sum(p.numel() for p in net.parameters()), 'bytes': onnx_path.stat().st_size, 'reference_faces': int(ref[0].shape[1])}
    (out / 'export.json').write_text(json.dumps(info, indent=2))
    return info


def save_v3(net: JointV3, path: Path) -> None:
    """Writes the weights file load_v3 reads: the state (on the CPU) and what rebuilds the network around it."""
    torch.save({'design': 'v3', 'adapter': net.adapter_kind, 'skip_blocks': list(net.skip_blocks),
                'state': {k: v.cpu() for k, v in net.state_dict().items()}}, path)


def load_v3(weights: str, models: str, skip_blocks: tuple[int, ...] | None = None) -> JointV3:
    """The network of a weights file; `skip_blocks` starts a slimmer body from a fuller one's weights."""
    saved = torch.load(weights, map_location='cpu')
    state = saved['state'] if 'state' in saved else saved
    saved_skip = tuple(saved.get('skip_blocks', ())) if 'state' in saved else ()
    adapter = saved.get('adapter', '1x1') if 'state' in saved else '1x1'  # files from before adapter kinds are 1x1
    skip = saved_skip if skip_blocks is None else skip_blocks
    if not set(saved_skip) <= set(skip):
        raise ValueError(f'{weights} has no weights for blocks {sorted(set(saved_skip) - set(skip))}')
    net = JointV3(Path(models) / 'yunet_s_640_640.onnx', Path(models) / 'mobilefacenet_128.onnx', skip_blocks=skip, adapter=adapter)
    wanted = net.state_dict().keys()
    net.load_state_dict({k: v for k, v in state.items() if k in wanted})  # strict: every kept weight must be there
    return net.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--weights', required=True, help='weights.pt of fit_adapter.py or train_v3.py')
    ap.add_argument('--out', required=True)
    ap.add_argument('--labels', default='build/labels/train.jsonl', help='labels (the reference image is the first scene with faces)')
    ap.add_argument('--data', default='../shared/data')
    ap.add_argument('--models', default='../shared/data/models')
    ap.add_argument('--size', type=int, default=640)
    ap.add_argument('--max-size', type=int, help='dynamic input: any multiple of 32 from --size up to this (frames fed at their own resolution)')
    ap.add_argument('--max-faces', type=int, default=200)
    ap.add_argument('--score-threshold', type=float, default=0.5, help='in-graph floor: faces below it are never embedded')
    ap.add_argument('--iou', type=float, default=0.3)
    ap.add_argument('--fixed-k', action='store_true',
                    help='static output shapes: exactly --max-faces faces (zero-score padding), the body runs on all of them')
    args = ap.parse_args()
    torch.set_num_threads(2)
    net = load_v3(args.weights, args.models)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(json.dumps(export_v3(net, out, args.size, args.max_faces, args.score_threshold, args.iou, args.data, args.labels, args.fixed_k, args.max_size)))


if __name__ == '__main__':
    main()
