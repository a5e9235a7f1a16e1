import * as ort from 'onnxruntime-node';
import { ModelLoadError, ProviderUnavailableError, errorMessage } from '../errors';
import { onnxProviderList, type ExecutionProviderName, type ProviderAttempt } from './providers';
import type { TensorRtProviderOptions } from './tensorrt-options';

/** Options that shape every onnxruntime session the engine opens. */
export interface SessionSettings {
  providers: readonly ExecutionProviderName[];
  deviceId: number;
  /** Intra-op threads for the CPU provider (0 lets onnxruntime decide). */
  threads: number;
  /** TensorRT EP options per model file path (engine cache, precision, profile shapes). */
  tensorrt?: Record<string, TensorRtProviderOptions>;
}

// A provider that cannot load is an expected outcome here (its reason is kept in the attempt
// list); onnxruntime would also print it to stderr at error level, once per try.
ort.env.logLevel = 'fatal';

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: ExecutionProviderName;
  attempts: ProviderAttempt[];
}

/**
 * Opens a model with the first provider that loads, trying each in order and recording why
 * the others were skipped. A model that fails on the CPU provider is broken, not unsupported:
 * that is a {@link ModelLoadError}, not a fallback.
 */
export async function openSession(modelPath: string, settings: SessionSettings): Promise<OpenedSession> {
  const attempts: ProviderAttempt[] = [];
  for (const provider of settings.providers) {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: onnxProviderList(provider, settings.deviceId, settings.tensorrt?.[modelPath]) as NonNullable<ort.InferenceSession.SessionOptions['executionProviders']>,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      ...(settings.threads > 0 ? { intraOpNumThreads: settings.threads, interOpNumThreads: 1 } : {}),
    };
    try {
      const session = await ort.InferenceSession.create(modelPath, options);
      attempts.push({ provider, ok: true });
      return { session, provider, attempts };
    } catch (error) {
      const reason = firstLine(errorMessage(error));
      if (provider === 'cpu') {
        throw new ModelLoadError(`onnxruntime cannot load ${modelPath}: ${reason}`, { file: modelPath, attempts }, error);
      }
      attempts.push({ provider, ok: false, reason });
    }
  }
  throw new ProviderUnavailableError(attempts.map((a) => ({ provider: a.provider, reason: a.reason ?? 'unknown' })));
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
