import type { SerializedError } from '../../sdk/errors';
import type { TensorRtProviderOptions } from '../../sdk/engine/tensorrt-options';

/** Messages between prebuildEngines (main thread) and its build worker, one model per worker. */
export type ToBuildWorker = { type: 'build'; modelPath: string; providerOptions: TensorRtProviderOptions; verbose: boolean };

export type FromBuildWorker =
  /** onnxruntime is loaded; the blocking session creation (the engine build) starts now. */
  | { type: 'building' }
  | { type: 'built'; seconds: number }
  | { type: 'failed'; error: SerializedError };
