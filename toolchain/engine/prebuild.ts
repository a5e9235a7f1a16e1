/**
 * Builds and caches a bundle's TensorRT engines at provisioning time, so that no service start
 * spends minutes in the TensorRT builder. Each model is built in a worker thread (the build is
 * one blocking native call); the caller gets a heartbeat every second meanwhile.
 */
import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { loadBundle, type BundleModelFile } from '../../sdk/bundle/load-bundle';
import { JetfaceError, ModelLoadError, ProviderUnavailableError, WorkerError, type SerializedError } from '../../sdk/errors';
import type { FromBuildWorker, ToBuildWorker } from './prebuild-protocol';
import { locateWorker, type WorkerScript } from '../../sdk/engine/worker-script';
import { defaultEngineCacheRoot, findCalibrationTable, tensorrtOptions, type TensorRtChoice, type TensorRtSetup } from '../../sdk/engine/tensorrt-options';

/** Options for {@link prebuildEngines}. */
export interface PrebuildOptions extends TensorRtChoice {
  /** Engine cache root. Default {@link defaultEngineCacheRoot}. The runtime must use the same. */
  cacheRoot?: string;
  /** Delete this bundle's cached engines and the timing cache first (after a JetPack/TensorRT upgrade). */
  rebuild?: boolean;
  /** Let onnxruntime and TensorRT log the build (info level, to stderr). */
  verbose?: boolean;
  /** Check model files against the manifest's sha256. Default true. */
  verifyChecksums?: boolean;
  /** Milliseconds between heartbeats while a build runs. Default 1000. */
  heartbeatMs?: number;
}

/** loading: worker and onnxruntime starting; building: TensorRT at work (repeated as a heartbeat). */
export type EnginePhase = 'loading' | 'building' | 'ready' | 'failed';

/** One progress event of one model file's build. */
export interface EngineBuildProgress {
  phase: EnginePhase;
  role: BundleModelFile['role'];
  model: string;
  /** 1-based position of this model among `count` in the bundle. */
  index: number;
  count: number;
  /** Seconds since this model's build began. */
  elapsedS: number;
  /** Cache files (names) written since this model's build began. */
  cacheFiles: string[];
  /** Why it failed (`failed` only). */
  reason?: string;
}

export interface CacheFile {
  path: string;
  bytes: number;
}

/** What {@link prebuildEngines} built and where it left it. */
export interface EngineBuildResult {
  bundleDir: string;
  modelId: string;
  precision: TensorRtSetup['precision'];
  fp16: boolean;
  int8: boolean;
  cacheDir: string;
  timingCacheDir: string;
  onnxruntime: string;
  models: { role: BundleModelFile['role']; path: string; seconds: number }[];
  /** Every engine, profile and timing-cache file present after the build. */
  cacheFiles: CacheFile[];
  elapsedS: number;
}

const ENGINE_FILE = /\.(engine|profile)$/;
const TIMING_FILE = /\.timing$/;
// Messages of a TensorRT EP that cannot load at all, as opposed to one that fails on this model.
const PROVIDER_LOAD_FAILURE = /shared library|shared object|is unsupported|libnvinfer|libcudart|libcudnn|no CUDA-capable device|CUDA driver/i;

/**
 * Builds the TensorRT engine of each model of a bundle into the engine cache, reporting
 * progress. Without a TensorRT-capable onnxruntime-node (any stock npm install) it fails within
 * about a second with a {@link ProviderUnavailableError} saying why.
 *
 * @example
 * ```ts
 * const result = await prebuildEngines('models/jetface-s', { fp16: true }, (e) => console.error(e.phase, e.elapsedS));
 * console.log(result.cacheFiles);
 * ```
 */
export async function prebuildEngines(
  bundleDir: string,
  options: PrebuildOptions = {},
  onProgress: (event: EngineBuildProgress) => void = () => undefined,
): Promise<EngineBuildResult> {
  const started = Date.now();
  const bundle = await loadBundle(bundleDir, { verifyChecksums: options.verifyChecksums ?? true });
  const calibrationTable = await findCalibrationTable(bundle.dir);
  const setup = tensorrtOptions(bundle, {
    ...options,
    cacheRoot: options.cacheRoot ?? defaultEngineCacheRoot(),
    ...(calibrationTable ? { calibrationTable } : {}),
  });
  try {
    assertTensorRtCompiledIn();
  } catch (error) {
    const first = setup.models[0]!;
    onProgress({ phase: 'failed', role: first.role, model: first.path, index: 1, count: setup.models.length, elapsedS: 0, cacheFiles: [], reason: (error as Error).message });
    throw error;
  }

  await mkdir(setup.cacheDir, { recursive: true });
  await mkdir(setup.timingCacheDir, { recursive: true });
  if (options.rebuild) await removeCaches(setup);
  if (setup.calibrationTable) await copyFile(join(bundle.dir, setup.calibrationTable.file), join(setup.cacheDir, setup.calibrationTable.file));

  const models: EngineBuildResult['models'] = [];
  for (const [i, model] of setup.models.entries()) {
    const seconds = await buildOne(model, { index: i + 1, count: setup.models.length }, setup, options, onProgress);
    models.push({ role: model.role, path: model.path, seconds: round(seconds) });
  }

  const cacheFiles = await listCacheFiles(setup);
  if (!cacheFiles.some((f) => f.path.endsWith('.engine'))) {
    // The stock binding drops every trt_* key: the engine was built in memory and thrown away.
    throw new ProviderUnavailableError([
      {
        provider: 'tensorrt',
        reason: `TensorRT ran but wrote no engine to ${setup.cacheDir}: this onnxruntime-node binding ignores the trt_* provider options (apply the session_options_helper.cc change in docs/jetson.md)`,
      },
    ]);
  }
  return {
    bundleDir: bundle.dir,
    modelId: setup.modelId,
    precision: setup.precision,
    fp16: setup.fp16,
    int8: setup.int8,
    cacheDir: setup.cacheDir,
    timingCacheDir: setup.timingCacheDir,
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
    models,
    cacheFiles,
    elapsedS: round((Date.now() - started) / 1000),
  };
}

/** A binding compiled without TensorRT does not list it: say so before starting any worker. */
function assertTensorRtCompiledIn(): void {
  if (ort.listSupportedBackends().some((b) => b.name === 'tensorrt')) return;
  throw new ProviderUnavailableError([
    {
      provider: 'tensorrt',
      reason: `this onnxruntime-node ${ort.env.versions.common} binary has no TensorRT execution provider (npm's linux/arm64 build is CPU-only): build onnxruntime with --use_tensorrt --build_nodejs (docs/jetson.md)`,
    },
  ]);
}

/** Builds one model's engine in its own worker; resolves with the seconds the build took. */
async function buildOne(
  model: TensorRtSetup['models'][number],
  position: { index: number; count: number },
  setup: TensorRtSetup,
  options: PrebuildOptions,
  onProgress: (event: EngineBuildProgress) => void,
): Promise<number> {
  const since = Date.now();
  const event = async (phase: EnginePhase, reason?: string): Promise<EngineBuildProgress> => ({
    phase,
    role: model.role,
    model: model.path,
    ...position,
    elapsedS: round((Date.now() - since) / 1000, 1),
    cacheFiles: (await listCacheFiles(setup, since)).map((f) => f.path),
    ...(reason !== undefined ? { reason } : {}),
  });
  onProgress(await event('loading'));

  const script = buildWorkerScript();
  const worker = new Worker(script.file, { execArgv: script.execArgv });
  let heartbeat: NodeJS.Timeout | undefined;
  let settled = false;
  try {
    const seconds = await new Promise<number>((resolve, reject) => {
      const fail = (error: Error): void => {
        settled = true;
        reject(error);
      };
      worker.on('message', (m: FromBuildWorker) => {
        if (m.type === 'building') {
          const beat = (): void => {
            event('building')
              .then((e) => !settled && onProgress(e))
              .catch((error: unknown) => fail(error instanceof Error ? error : new Error(String(error))));
          };
          beat();
          heartbeat = setInterval(beat, options.heartbeatMs ?? 1000);
        } else if (m.type === 'built') {
          settled = true;
          resolve(m.seconds);
        } else {
          fail(buildFailure(m.error, model.path));
        }
      });
      worker.on('error', (e) => fail(new WorkerError(`engine build worker crashed: ${e.message}`, { script: script.file }, e)));
      worker.on('exit', (code) => fail(new WorkerError(`engine build worker exited with code ${code}`, { script: script.file, exitCode: code })));
      worker.postMessage({ type: 'build', modelPath: model.path, providerOptions: model.providerOptions, verbose: options.verbose ?? false } satisfies ToBuildWorker);
    });
    clearInterval(heartbeat);
    onProgress(await event('ready'));
    return seconds;
  } catch (error) {
    clearInterval(heartbeat);
    onProgress(await event('failed', error instanceof Error ? error.message : String(error)));
    throw error;
  } finally {
    clearInterval(heartbeat);
    await worker.terminate();
  }
}

/** A TensorRT EP that cannot load is "unavailable"; one that loads but cannot build this model is a model problem. */
function buildFailure(error: SerializedError, model: string): JetfaceError {
  const reason = error.message.split('\n')[0]!.trim();
  if (PROVIDER_LOAD_FAILURE.test(error.message)) {
    return new ProviderUnavailableError([{ provider: 'tensorrt', reason: `${reason} (install the TensorRT-enabled onnxruntime-node of docs/jetson.md)` }]);
  }
  return new ModelLoadError(`TensorRT could not build an engine for ${model}: ${reason}`, { file: model, provider: 'tensorrt' });
}

/** Engine, profile and timing-cache files, optionally only those written since `sinceMs`. */
async function listCacheFiles(setup: TensorRtSetup, sinceMs = 0): Promise<CacheFile[]> {
  const out: CacheFile[] = [];
  for (const [dir, pattern] of [
    [setup.cacheDir, ENGINE_FILE],
    [setup.timingCacheDir, TIMING_FILE],
  ] as const) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => pattern.test(n)).sort()) {
      const info = await stat(join(dir, name)).catch(() => undefined);
      if (info?.isFile() && info.mtimeMs >= sinceMs) out.push({ path: join(dir, name), bytes: info.size });
    }
  }
  return out;
}

async function removeCaches(setup: TensorRtSetup): Promise<void> {
  for (const file of await listCacheFiles(setup)) await rm(file.path, { force: true });
}

/** The worker's code (toolchain/engine/prebuild-worker.ts, built as dist/engine-build-worker.cjs). */
function buildWorkerScript(): WorkerScript {
  return locateWorker('engine-build-worker.cjs', join(__dirname, 'prebuild-worker.ts'), __dirname);
}

function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
