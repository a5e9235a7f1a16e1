import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, decodeModel, encodeModel, floatTensor, floatValues, opsetVersion, tensorDims } from '../toolchain/onnx/model-io';
import { onnx } from 'onnx-proto';
import { ModelLoadError } from '../sdk/errors';
import { dataPath, describeWithData } from './support/data';
import { prepareInput } from '../toolchain/quantize/model-input';
import { loadBundle } from '../sdk/bundle/load-bundle';
import type { JointManifest } from '../sdk/bundle/manifest';

const DEFAULT_BUNDLE = resolve(__dirname, '../models/jetface-s');
const asObject = (bytes: Uint8Array) => onnx.ModelProto.toObject(decodeModel(bytes), { longs: String, bytes: String });

describe('ONNX read/write (onnx-proto)', () => {
  test('a decode → encode round trip keeps every field of the default model', () => {
    const bytes = readFileSync(resolve(DEFAULT_BUNDLE, 'model.onnx'));
    const again = encodeModel(decodeModel(bytes));
    expect(asObject(again)).toEqual(asObject(bytes));
    expect(encodeModel(decodeModel(again))).toEqual(again); // a fixed point after one pass
  });

  test('float tensors written raw read back exactly; dims and opset are plain numbers', () => {
    const values = Float32Array.from([1.5, -2.25, 3e-8, 65504]);
    const t = decodeModel(encodeModel(onnx.ModelProto.create({ graph: { initializer: [floatTensor('w', [2, 2], values)] }, opsetImport: [{ version: 16 }] })));
    expect(Array.from(floatValues(t.graph!.initializer![0]!))).toEqual(Array.from(values));
    expect(tensorDims(t.graph!.initializer![0]!)).toEqual([2, 2]);
    expect(t.graph!.initializer![0]!.dataType).toBe(DataType.FLOAT);
    expect(opsetVersion(t)).toBe(16);
  });

  test('bytes that are not ONNX give a typed error naming the source', () => {
    expect(() => decodeModel(Uint8Array.from([0xff, 0xff, 0xff, 0x07]), 'broken.onnx')).toThrow(ModelLoadError);
    expect(() => decodeModel(Uint8Array.from([0xff, 0xff, 0xff, 0x07]), 'broken.onnx')).toThrow(/broken\.onnx/);
  });
});

describeWithData('ONNX round trip in onnxruntime', () => {
  test('the round-tripped model gives bit-identical outputs on a real photo', async () => {
    const bundle = await loadBundle(DEFAULT_BUNDLE);
    const bytes = readFileSync(bundle.modelFiles[0]!.path);
    const input = await prepareInput(dataPath('scenes', 'two_people.jpg'), (bundle.manifest as JointManifest).input);
    const outputs = [];
    for (const model of [bytes, encodeModel(decodeModel(bytes))]) {
      const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
      outputs.push(await session.run(input.feeds));
      await session.release();
    }
    for (const name of ['scores', 'boxes', 'landmarks', 'embeddings']) {
      expect(Array.from(outputs[1]![name]!.data as Float32Array)).toEqual(Array.from(outputs[0]![name]!.data as Float32Array));
    }
  });
});
