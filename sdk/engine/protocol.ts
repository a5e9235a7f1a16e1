import type { ModelBundle } from '../bundle/load-bundle';
import type { SerializedError } from '../errors';
import type { Face, Frame } from '../types';
import type { InputSizePolicy } from './input-size';
import type { ExecutionProviderName, ProviderAttempt } from './providers';
import type { StageTimings } from './runner';
import type { SessionSettings } from './session';

/** Messages between FaceEngine (main thread) and its inference worker. */
export type ToWorker =
  | { type: 'init'; bundle: ModelBundle; settings: SessionSettings; warmup: boolean; inputSize: InputSizePolicy }
  | { type: 'detect'; id: number; frame: Frame; minScore: number }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; provider: ExecutionProviderName; attempts: ProviderAttempt[]; warmupMs: number }
  | { type: 'init-error'; error: SerializedError }
  | { type: 'result'; id: number; faces: Face[]; timings: StageTimings }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'closed' };
