"""ONNX export of the joint network with its in-graph decode, plus a reference run for checking.

The reference (a real labelled image, resized as the SDK resizes it, and PyTorch's outputs) is
written beside the ONNX file so that `jetface bundle joint` can check onnxruntime-node's outputs
against PyTorch's before it writes the bundle.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from data import read_image
from model import JointExport, JointNet

TOP_K = 200
OPSET = {'dense': 13, 'aligned': 16}  # GridSample is opset 16


def export_onnx(net: JointNet, out: Path, size: int, data_root: str, samples) -> dict:
    model = JointExport(net.eval(), size, size, TOP_K).eval()
    image = reference_image(data_root, samples, size)
    x = torch.from_numpy(image).unsqueeze(0)
    onnx_path = out / 'model.onnx'
    with torch.no_grad():
        ref = model(x)
        torch.onnx.export(model, (x,), str(onnx_path), opset_version=OPSET[net.embedding], input_names=['image'],
                          output_names=['scores', 'boxes', 'landmarks', 'embeddings'], do_constant_folding=True)
    refdir = out / 'reference'
    refdir.mkdir(exist_ok=True)
    image.tofile(refdir / 'image.u8')
    names = ['scores', 'boxes', 'landmarks', 'embeddings']
    for name, t in zip(names, ref):
        t.numpy().astype(np.float32).tofile(refdir / f'{name}.f32')
    meta = {'input': {'name': 'image', 'shape': [1, size, size, 3]}, 'outputs': {n: list(t.shape) for n, t in zip(names, ref)}}
    (refdir / 'reference.json').write_text(json.dumps(meta, indent=2))
    flops = count_flops(net, size, TOP_K)
    info = {'onnx': str(onnx_path), 'size': size, 'top_k': TOP_K, 'opset': OPSET[net.embedding], 'embedding': net.embedding, 'gflops': round(flops / 1e9, 3),
            'params': sum(p.numel() for p in net.parameters()), 'bytes': onnx_path.stat().st_size}
    (out / 'export.json').write_text(json.dumps(info, indent=2))
    return info


def reference_image(data_root: str, samples, size: int) -> np.ndarray:
    """The first scene image with several faces (else the first sample), letterboxed like the SDK does."""
    pick = next((s for s in samples if s.image.startswith('scenes/') and len(s.faces) >= 2), samples[0])
    img = read_image(data_root, pick)
    scale = min(size / img.width, size / img.height)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    canvas = Image.new('RGB', (size, size))
    canvas.paste(img, (0, 0))
    return np.asarray(canvas, dtype=np.uint8).copy()


def count_flops(net: JointNet, size: int, top_k: int) -> float:
    """Multiply-adds x2 of every Conv2d at this input size (the heads and the backbone are all conv), with the
    aligned design's head run on all top-K candidates as the exported graph does."""
    total = 0.0

    def hook(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total += 2.0 * k * out.numel() / out.shape[0] * 1.0

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        _, roi_source = net(torch.zeros(1, 3, size, size))
        if net.embedding == 'aligned':
            net.embed_faces(roi_source, torch.zeros(1, top_k, 5, 2))
    for h in handles:
        h.remove()
    return total
