import { InvalidArgumentError } from '../errors';

/** Execution providers jetface knows how to ask onnxruntime for. */
export type ExecutionProviderName = 'tensorrt' | 'cuda' | 'cpu';

export const EXECUTION_PROVIDERS: readonly ExecutionProviderName[] = ['tensorrt', 'cuda', 'cpu'];

/** Default order: TensorRT on a Jetson, CUDA where TensorRT is absent, the CPU everywhere. */
export const DEFAULT_PROVIDER_ORDER: readonly ExecutionProviderName[] = ['tensorrt', 'cuda', 'cpu'];

/** Why a provider was or was not used. */
export interface ProviderAttempt {
  provider: ExecutionProviderName;
  ok: boolean;
  reason?: string;
}

/** Checks a user-given provider list once, where it enters. */
export function validateProviderOrder(order: unknown): ExecutionProviderName[] {
  if (!Array.isArray(order) || order.length === 0) throw new InvalidArgumentError('options.providers', `a non-empty array of ${EXECUTION_PROVIDERS.join(' | ')}`, order);
  for (const p of order) {
    if (!EXECUTION_PROVIDERS.includes(p as ExecutionProviderName)) {
      throw new InvalidArgumentError('options.providers', `entries among ${EXECUTION_PROVIDERS.join(' | ')}`, p);
    }
  }
  return [...new Set(order as ExecutionProviderName[])];
}

/**
 * The onnxruntime provider list for one attempt. A GPU provider is followed by `cpu` so that
 * the few operators it cannot place still run; the attempt's provider is the one that matters.
 * The JS binding passes only `deviceId` to TensorRT/CUDA (see docs/jetson.md).
 */
export function onnxProviderList(
  provider: ExecutionProviderName,
  deviceId: number,
  tensorrt?: Readonly<{ name: 'tensorrt'; deviceId: number }>,
): (string | Readonly<{ name: string; deviceId: number }>)[] {
  if (provider === 'cpu') return ['cpu'];
  if (provider === 'tensorrt' && tensorrt) return [tensorrt, 'cpu'];
  return [{ name: provider, deviceId }, 'cpu'];
}
