"""Runs a reference ONNX model through the PyTorch importer on given images and writes the inputs
and outputs as raw float32 files, so onnxruntime can be run on the same inputs and compared.

    /usr/bin/python3 toolchain/train/import_check.py --model ../shared/data/models/yunet_s_640_640.onnx \
        --out build/import-check/yunet IMAGE...

Writes `<out>/<i>.input.f32`, `<out>/<i>.<output>.f32` and `<out>/check.json` (input name and shape,
output names and shapes). Images are resized (stretched) to the model's input size; the input's
colour order and scaling follow the model (YuNet: BGR 0..255; MobileFaceNet: RGB (x-127.5)/128).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from onnx_import import OnnxModule, onnx_input_array  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('images', nargs='+')
    args = ap.parse_args()
    torch.set_num_threads(2)
    module = OnnxModule(args.model).eval()
    name, shape = onnx_input_array(args.model)
    _, _, h, w = shape
    yunet = 'yunet' in Path(args.model).name
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shapes: dict[str, list[int]] = {}
    for i, path in enumerate(args.images):
        rgb = np.asarray(Image.open(path).convert('RGB').resize((w, h), Image.BILINEAR), dtype=np.float32)
        x = rgb[..., ::-1] if yunet else (rgb - 127.5) / 128.0
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        x.astype(np.float32).tofile(out / f'{i}.input.f32')
        with torch.no_grad():
            ys = module(torch.from_numpy(x))
        ys = ys if isinstance(ys, list) else [ys]
        for o, y in zip(module.outputs, ys):
            y.numpy().astype(np.float32).tofile(out / f'{i}.{o}.f32')
            shapes[o] = list(y.shape)
    (out / 'check.json').write_text(json.dumps({'input': name, 'shape': shape, 'images': len(args.images), 'outputs': shapes}, indent=2))


if __name__ == '__main__':
    main()
