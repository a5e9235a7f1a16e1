import { Worker } from 'node:worker_threads';
import { loadBundle, type ModelBundle } from '../bundle/load-bundle';
import type { BundleManifest } from '../bundle/manifest';
import { EngineClosedError, InvalidArgumentError, WorkerError, reviveError } from '../errors';
import { assertValidFrame } from '../image/frame';
import type { Face, Frame } from '../types';
import { checkInputSizePolicy, type InputSizePolicy } from './input-size';
import type { FromWorker, ToWorker } from './protocol';
import { DEFAULT_PROVIDER_ORDER, validateProviderOrder, type ExecutionProviderName, type ProviderAttempt } from './providers';
import type { StageTimings } from './runner';
import { defaultEngineCacheRoot, findCalibrationTable, tensorrtOptions, type TensorRtChoice, type TensorRtProviderOptions } from './tensorrt-options';
import { workerScript } from './worker-script';

/** Options for {@link FaceEngine.create}. */
export interface FaceEngineOptions {
  /** Execution providers to try, in order; each that cannot load is skipped with its reason. Default: tensorrt, cuda, cpu. */
  providers?: readonly ExecutionProviderName[];
  /** GPU index for tensorrt/cuda. Default 0. */
  deviceId?: number;
  /** CPU intra-op threads (0 = onnxruntime's choice). Default 1: on small boards a second thread mostly adds tail latency. */
  threads?: number;
  /** Minimum face score; default: the bundle's `thresholds.detection`. */
  minScore?: number;
  /** Run each model once at creation. Default true. */
  warmup?: boolean;
  /** Check model files against the manifest's sha256. Default true. */
  verifyChecksums?: boolean;
  /**
   * TensorRT builder choices (fp16, int8, workspace, DLA) and the engine cache root (default:
   * ~/.cache/jetface/tensorrt, where `jetface model engine` prebuilds). Used when the tensorrt
   * provider is tried; only an onnxruntime-node built as docs/jetson.md says passes them on.
   */
  tensorrt?: TensorRtChoice & { cacheRoot?: string };
  /**
   * Input size per frame: `'bundle'` (default) letterboxes every frame into the bundle's size;
   * `'frame'` feeds a larger frame at its own resolution, up to the bundle's `dynamicInput.maxSide`
   * (a number caps the longest side); `'auto'` runs a second, larger pass (up to 2x a small frame) only
   * when the first finds faces too small to recognize well. `'frame'` and numbers need a bundle exported
   * with a dynamic input; `'auto'` on any other bundle is `'bundle'`. The device configuration defaults
   * to `'auto'`. See docs/BENCHMARKS.md, "Input size" and "Small frames".
   */
  inputSize?: InputSizePolicy;
}

/** What the engine is running, for logs and `jetface doctor`. */
export interface EngineInfo {
  bundleDir: string;
  kind: BundleManifest['kind'];
  modelId: string;
  name: string;
  precision: BundleManifest['precision'];
  embeddingDim: number;
  provider: ExecutionProviderName;
  /** Every provider tried, in order, and why each skipped one could not load. */
  providerAttempts: ProviderAttempt[];
  warmupMs: number;
}

/** Faces plus the time each stage took inside the worker. */
export interface DetectResult {
  faces: Face[];
  timings: StageTimings;
}

interface Pending {
  resolve: (r: DetectResult) => void;
  reject: (e: Error) => void;
  callerStack: string | undefined;
}

/**
 * Finds every face in a frame with its landmarks and identity embedding, using a model bundle.
 * Inference runs in a worker thread, so the caller's event loop stays responsive.
 *
 * @example
 * ```ts
 * const engine = await FaceEngine.create('models/jetface-s');
 * console.log(engine.info.provider); // 'cpu' on a laptop, 'tensorrt' on a Jetson
 * const faces = await engine.detect(await loadImageFrame('group.jpg'));
 * await engine.close();
 * ```
 */
export class FaceEngine {
  readonly info: EngineInfo;
  readonly manifest: BundleManifest;
  private readonly worker: Worker;
  private readonly minScore: number;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private failure: Error | undefined;

  private constructor(worker: Worker, bundle: ModelBundle, info: EngineInfo, minScore: number) {
    this.worker = worker;
    this.manifest = bundle.manifest;
    this.info = info;
    this.minScore = minScore;
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (e) => this.fail(new WorkerError(`inference worker crashed: ${e.message}`, {}, e)));
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new WorkerError(`inference worker exited with code ${code}`, { exitCode: code }));
    });
  }

  /** Loads and validates a bundle, opens its model(s) on the first provider that loads, and warms up. */
  static async create(bundleDir: string, options: FaceEngineOptions = {}): Promise<FaceEngine> {
    const callerStack = new Error().stack;
    const providers = options.providers === undefined ? [...DEFAULT_PROVIDER_ORDER] : validateProviderOrder(options.providers);
    const deviceId = checkInteger('options.deviceId', options.deviceId ?? 0, 0, 64);
    const threads = checkInteger('options.threads', options.threads ?? 1, 0, 256);
    const bundle = await loadBundle(bundleDir, { verifyChecksums: options.verifyChecksums ?? true });
    const minScore = options.minScore ?? bundle.manifest.thresholds.detection;
    const inputSize = checkInputSizePolicy(options.inputSize ?? 'bundle', bundle.manifest);
    if (!(minScore >= 0 && minScore <= 1)) throw new InvalidArgumentError('options.minScore', 'a number in 0..1', options.minScore);

    // Only when asked: an explicit TensorRT choice the bundle cannot honour is a configuration error.
    const tensorrt = options.tensorrt && providers.includes('tensorrt') ? await tensorrtSessionOptions(bundle, options.tensorrt) : undefined;

    const script = workerScript();
    const worker = new Worker(script.file, { execArgv: script.execArgv });
    const ready = await waitForReady(worker, script.file, callerStack, {
      type: 'init',
      bundle,
      settings: { providers, deviceId, threads, ...(tensorrt ? { tensorrt } : {}) },
      warmup: options.warmup ?? true,
      inputSize,
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    const m = bundle.manifest;
    const info: EngineInfo = {
      bundleDir: bundle.dir,
      kind: m.kind,
      modelId: m.modelId,
      name: m.name,
      precision: m.precision,
      embeddingDim: m.embeddingDim,
      provider: ready.provider,
      providerAttempts: ready.attempts,
      warmupMs: ready.warmupMs,
    };
    return new FaceEngine(worker, bundle, info, minScore);
  }

  /** Every face in the frame, best score first, in the frame's pixel coordinates. */
  async detect(frame: Frame): Promise<Face[]> {
    return (await this.detectWithTimings(frame)).faces;
  }

  /** Like {@link detect}, with the milliseconds each stage took (for benchmarks and metrics). */
  detectWithTimings(frame: Frame): Promise<DetectResult> {
    const callerStack = new Error().stack;
    if (this.closed) return Promise.reject(new EngineClosedError());
    if (this.failure) return Promise.reject(this.failure);
    try {
      assertValidFrame(frame);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.nextId++;
    return new Promise<DetectResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, callerStack });
      const message: ToWorker = { type: 'detect', id, frame, minScore: this.minScore };
      this.worker.postMessage(message);
    });
  }

  /** Frames accepted but not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Releases the model sessions and stops the worker. Pending detections are rejected. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => {
      this.worker.on('message', (m: FromWorker) => m.type === 'closed' && resolve());
      this.worker.once('exit', () => resolve());
    });
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000).unref())]);
    for (const p of this.pending.values()) p.reject(new EngineClosedError());
    this.pending.clear();
    await this.worker.terminate();
  }

  private onMessage(m: FromWorker): void {
    if (m.type !== 'result' && m.type !== 'error') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve({ faces: m.faces, timings: m.timings });
    else p.reject(reviveError(m.error, p.callerStack));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

/** Sends `init` and waits for the worker's answer, detaching its start-up listeners either way. */
function waitForReady(worker: Worker, script: string, callerStack: string | undefined, init: ToWorker): Promise<Extract<FromWorker, { type: 'ready' }>> {
  return new Promise((resolve, reject) => {
    const detach = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (m: FromWorker): void => {
      if (m.type !== 'ready' && m.type !== 'init-error') return;
      detach();
      if (m.type === 'ready') resolve(m);
      else reject(reviveError(m.error, callerStack));
    };
    const onError = (e: Error): void => {
      detach();
      reject(new WorkerError(`inference worker failed to start: ${e.message}`, { script }, e));
    };
    const onExit = (code: number): void => {
      detach();
      reject(new WorkerError(`inference worker exited with code ${code} during start`, { script }));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(init);
  });
}

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(name, `an integer in ${min}..${max}`, value);
  }
  return value;
}

/** TensorRT EP options per model file, with the engine cache shared with `jetface model engine`. */
async function tensorrtSessionOptions(bundle: ModelBundle, choice: TensorRtChoice & { cacheRoot?: string }): Promise<Record<string, TensorRtProviderOptions>> {
  const table = await findCalibrationTable(bundle.dir);
  const setup = tensorrtOptions(bundle, {
    ...choice,
    cacheRoot: choice.cacheRoot ?? defaultEngineCacheRoot(),
    ...(table && (choice.int8 ?? false) ? { calibrationTable: table } : {}),
  });
  return Object.fromEntries(setup.models.map((m) => [m.path, m.providerOptions]));
}
