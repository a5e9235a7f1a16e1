import { writeCascadeBundle } from '../../toolchain/bundle/cascade';
import { dataPath, tempDir } from './data';

/** Builds the reference cascade bundle from ../shared/data/models into a temporary folder. */
export async function makeCascadeBundle(options: { flipAugment?: boolean } = {}): Promise<string> {
  const out = tempDir('jetface-cascade-');
  await writeCascadeBundle({
    detector: dataPath('models', 'yunet_s_640_640.onnx'),
    recognizer: dataPath('models', 'mobilefacenet_128.onnx'),
    out,
    flipAugment: options.flipAugment ?? false,
  });
  return out;
}
