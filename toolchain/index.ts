/**
 * jetface toolchain: build-time tools that write model bundles (training, export and
 * quantization land here too).
 *
 * @example
 * ```ts
 * import { writeCascadeBundle } from 'jetface/toolchain';
 * await writeCascadeBundle({ detector: 'yunet.onnx', recognizer: 'mfn.onnx', out: 'build/bundles/cascade' });
 * ```
 */
export { writeCascadeBundle, type CascadeBundleOptions } from './bundle/cascade';
export { writeBundleFiles, addModelFile } from './bundle/write-bundle';
