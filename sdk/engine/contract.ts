import type * as ort from 'onnxruntime-node';
import type { TensorInputSpec } from '../bundle/manifest';
import { ContractError } from '../errors';

/**
 * Checks that an opened model has the input and outputs the manifest names, with a static
 * input size equal to the manifest's, so a mismatched bundle fails at load, not on the first frame.
 */
export function checkModelContract(session: ort.InferenceSession, file: string, input: Omit<TensorInputSpec, 'resize'>, outputs: readonly string[]): void {
  if (!session.inputNames.includes(input.name)) {
    throw new ContractError(`${file}: input "${input.name}" named by the manifest is not in the model (it has ${session.inputNames.join(', ')})`, {
      file,
      expected: input.name,
      actual: session.inputNames,
    });
  }
  const missing = outputs.filter((o) => !session.outputNames.includes(o));
  if (missing.length > 0) {
    throw new ContractError(`${file}: output(s) ${missing.join(', ')} named by the manifest are not in the model (it has ${session.outputNames.join(', ')})`, {
      file,
      expected: outputs,
      actual: session.outputNames,
    });
  }
  const meta = session.inputMetadata.find((m) => m.name === input.name);
  if (meta?.isTensor) {
    const expected = input.layout === 'nchw' ? [1, 3, input.height, input.width] : [1, input.height, input.width, 3];
    const shape = meta.shape;
    const conflict = shape.length !== 4 || shape.some((d, i) => typeof d === 'number' && d !== expected[i] && !(i === 0 && d === -1));
    if (conflict) {
      throw new ContractError(`${file}: input "${input.name}" has shape [${shape.join(', ')}], the manifest expects [${expected.join(', ')}]`, {
        file,
        expected,
        actual: shape,
      });
    }
    const dtype = meta.type;
    if (dtype !== input.dtype) {
      throw new ContractError(`${file}: input "${input.name}" is ${dtype}, the manifest says ${input.dtype}`, { file, expected: input.dtype, actual: dtype });
    }
  }
}
