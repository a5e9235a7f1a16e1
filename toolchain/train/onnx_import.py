"""Reads a reference ONNX model (YuNet, MobileFaceNet) into a trainable PyTorch module.

The joint network starts from what the teachers already know: their weights are read from the
ONNX files with python3-onnx and executed node by node with the matching torch ops, so PyTorch
reproduces each model's outputs (checked by the tests, max |diff| <= 1e-4 on real images) and the
conv weights become parameters that fine-tuning can move. A part of a graph (`inputs` ->
`outputs`) can be taken on its own, which is how a model is cut into a shared stem and a body.

Only the operators the reference models use are supported; another one is refused by name.
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper


class UnsupportedOnnxError(ValueError):
    """The ONNX graph uses something this importer does not translate (named in the message)."""


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxModule(nn.Module):
    """Executes the nodes of `path` needed to compute `outputs` from `inputs`.

    Conv weights and biases are parameters (named after their tensors); every other constant is a
    buffer. `forward(*tensors)` takes the inputs in order and returns the outputs in order (a single
    tensor when there is one). Reshapes whose target starts with the batch size 1 keep the actual
    batch size, since the reference graphs were exported for one image.
    """

    def __init__(self, path: str, inputs: Iterable[str] | None = None, outputs: Iterable[str] | None = None,
                 skip: Iterable[str] = ()):
        """`skip`: names of residual Add nodes whose branch is dropped (the Add's output becomes its first input)."""
        super().__init__()
        model = onnx.load(path)
        graph = model.graph
        inits = {t.name: t for t in graph.initializer}
        for node in graph.node:  # Constant nodes are initializers too
            if node.op_type == 'Constant':
                inits[node.output[0]] = _attrs(node)['value']
        self.inputs = list(inputs) if inputs is not None else [i.name for i in graph.input if i.name not in inits]
        self.outputs = list(outputs) if outputs is not None else [o.name for o in graph.output]
        producers = {out: node for node in graph.node if node.op_type != 'Constant' for out in node.output}
        by_name = {n.name: n for n in graph.node}
        self.aliases: dict[str, str] = {}
        for name in skip:
            node = by_name.get(name)
            if node is None or node.op_type != 'Add':
                raise UnsupportedOnnxError(f'{path}: {name!r} is not an Add node, it cannot be skipped')
            self.aliases[node.output[0]] = node.input[0]
        for name in self.outputs:
            if name not in producers and name not in self.inputs:
                raise UnsupportedOnnxError(f'{path}: no node produces tensor {name!r}')
        # Walk back from the outputs, stopping at the given inputs: only the nodes in between run.
        needed: set[str] = set()
        stack = list(self.outputs)
        while stack:
            t = self._resolve(stack.pop())
            if t in self.inputs or t in inits or t in needed:
                continue
            node = producers.get(t)
            if node is None:
                raise UnsupportedOnnxError(f'{path}: tensor {t!r} is needed but is neither produced nor given as an input')
            needed.add(node.output[0])
            stack.extend(i for i in node.input if i)
        self.nodes = [n for n in graph.node if n.op_type != 'Constant' and n.output[0] in needed]
        self._names: dict[str, str] = {}
        used = {i for n in self.nodes for i in n.input if i in inits}
        for name in sorted(used):
            value = torch.from_numpy(numpy_helper.to_array(inits[name]).copy())
            key = 't_' + re.sub(r'[^A-Za-z0-9_]', '_', name)
            self._names[name] = key
            is_weight = any(n.op_type == 'Conv' and name in n.input[1:] for n in self.nodes)
            if is_weight:
                self.register_parameter(key, nn.Parameter(value.float()))
            else:
                self.register_buffer(key, value)
        for node in self.nodes:
            if node.op_type not in _OPS:
                raise UnsupportedOnnxError(f'{path}: operator {node.op_type} ({node.name}) is not supported by the importer')

    def _resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def tensor(self, name: str) -> torch.Tensor:
        """A weight or constant of the graph by its ONNX name."""
        return getattr(self, self._names[name])

    def forward(self, *xs: torch.Tensor):
        env: dict[str, torch.Tensor] = dict(zip(self.inputs, xs))
        for name, key in self._names.items():
            env[name] = getattr(self, key)
        for node in self.nodes:
            args = [env[self._resolve(i)] if i else None for i in node.input]
            env[node.output[0]] = _OPS[node.op_type](args, _attrs(node))
        out = [env[self._resolve(o)] for o in self.outputs]
        return out[0] if len(out) == 1 else out


def _conv(args, a):
    x, w, b = args[0], args[1], args[2] if len(args) > 2 else None
    pads = a.get('pads', [0, 0, 0, 0])
    if pads[0] != pads[2] or pads[1] != pads[3]:
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        pads = [0, 0, 0, 0]
    if a.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        raise UnsupportedOnnxError('Conv auto_pad is not supported')
    return F.conv2d(x, w, b, stride=tuple(a.get('strides', [1, 1])), padding=(pads[0], pads[1]),
                    dilation=tuple(a.get('dilations', [1, 1])), groups=a.get('group', 1))


def _clip(args, a):
    lo = args[1] if len(args) > 1 and args[1] is not None else a.get('min')
    hi = args[2] if len(args) > 2 and args[2] is not None else a.get('max')
    lo = float(lo) if lo is not None else None
    hi = float(hi) if hi is not None else None
    return torch.clamp(args[0], lo, hi)


def _maxpool(args, a):
    if a.get('ceil_mode', 0) or any(a.get('pads', [0])):
        raise UnsupportedOnnxError('MaxPool with padding or ceil_mode is not supported')
    return F.max_pool2d(args[0], tuple(a['kernel_shape']), tuple(a.get('strides', a['kernel_shape'])))


def _resize(args, a):
    mode = a.get('mode', b'nearest')
    if mode not in (b'nearest', 'nearest') or a.get('coordinate_transformation_mode') not in (b'asymmetric', 'asymmetric'):
        raise UnsupportedOnnxError('Resize other than nearest/asymmetric is not supported')
    scales = args[2] if len(args) > 2 and args[2] is not None and args[2].numel() else None
    if scales is None:
        raise UnsupportedOnnxError('Resize without scales is not supported')
    s = [float(v) for v in scales.tolist()]
    if s[0] != 1 or s[1] != 1 or s[2] != int(s[2]) or s[3] != int(s[3]):
        raise UnsupportedOnnxError(f'Resize scales {s} are not integer spatial scales')
    # nearest + asymmetric + floor at an integer scale is what torch's nearest does (and exports as).
    return F.interpolate(args[0], scale_factor=(s[2], s[3]), mode='nearest')


def _reshape(args, a):
    shape = [int(v) for v in args[1].tolist()]
    if shape == [1, -1]:  # exports as Flatten, which also holds for an empty batch (no faces)
        return args[0].flatten(1)
    if shape and shape[0] == 1:
        # -1 keeps the batch dynamic in an exported graph; where -1 is taken, the actual batch size.
        shape[0] = -1 if -1 not in shape[1:] else args[0].shape[0]
    return args[0].reshape(shape)


_OPS = {
    'Conv': _conv,
    'Relu': lambda args, a: F.relu(args[0]),
    'Clip': _clip,
    'Add': lambda args, a: args[0] + args[1],
    'Sigmoid': lambda args, a: torch.sigmoid(args[0]),
    'MaxPool': _maxpool,
    'Resize': _resize,
    'Transpose': lambda args, a: args[0].permute(*a['perm']),
    'Reshape': _reshape,
}


def onnx_input_array(path: str) -> tuple[str, list[int]]:
    """The first graph input's name and static shape."""
    g = onnx.load(path).graph
    i = g.input[0]
    return i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
