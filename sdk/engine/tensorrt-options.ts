/**
 * The TensorRT execution-provider options for a bundle, as onnxruntime's C API takes them
 * (`UpdateTensorRTProviderOptions`: every value a string, booleans "1"/"0"). Pure: no file is
 * read or written here; {@link findCalibrationTable} and prebuild.ts do the I/O.
 *
 * The npm onnxruntime-node binding forwards only `deviceId`; the `trt_*` keys take effect only
 * with the patched binding of docs/jetson.md.
 */
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BundleModelFile, ModelBundle } from '../bundle/load-bundle';
import type { BundleManifest, TensorInputSpec } from '../bundle/manifest';
import { InvalidArgumentError } from '../errors';

/** TensorRT's native calibration cache, as `jetface model calibrate` writes it beside the float model. */
export const TENSORRT_TABLE_FILE = 'calibration.cache';

/** Ranges of the numeric choices, shared with the CLI so both name the same bounds. */
export const TENSORRT_LIMITS = {
  deviceId: [0, 64],
  workspaceMb: [16, 65536],
  // Jetson AGX Orin and Orin NX have two DLA cores; Orin Nano has none.
  dlaCore: [0, 1],
  // TensorRT >= 8.6; 3 is TensorRT's default.
  builderOptimizationLevel: [0, 5],
} as const satisfies Record<string, readonly [number, number]>;

/** Default TensorRT workspace: explicit, because on a Jetson the GPU shares the board's RAM. */
export const DEFAULT_WORKSPACE_MB = 1024;

/**
 * Calibration table file names a bundle may carry for implicit INT8 (a float model that
 * TensorRT quantizes itself): TensorRT's native cache, as `jetface model calibrate` writes it, or
 * onnxruntime's flatbuffers table, as onnxruntime's Python calibration tool writes it.
 */
export const CALIBRATION_TABLE_FILES = { native: TENSORRT_TABLE_FILE, onnxruntime: 'calibration.flatbuffers' } as const;

/** A calibration table found in the bundle folder. */
export interface CalibrationTable {
  /** Plain file name inside the bundle (prebuild copies it into the engine cache folder: TensorRT EP reads it from there). */
  file: string;
  /** true: TensorRT's own format; false: onnxruntime's flatbuffers format. */
  native: boolean;
}

/** What the caller asks of TensorRT; everything left out follows the bundle's precision. */
export interface TensorRtChoice {
  /** Let TensorRT use fp16 kernels. Default: on for an fp16 bundle, off otherwise. */
  fp16?: boolean;
  /** INT8. Default: on for an int8-qdq-tensorrt bundle; an fp32/fp16 bundle needs a calibration table. */
  int8?: boolean;
  /** GPU index. Default 0. */
  deviceId?: number;
  /** TensorRT builder workspace in MiB. Default {@link DEFAULT_WORKSPACE_MB}. */
  workspaceMb?: number;
  /** Run on this DLA core (GPU fallback for layers DLA lacks). Needs fp16 or int8. */
  dlaCore?: number;
  /** TensorRT builder optimization level (0-5): lower builds faster, runs slower. */
  builderOptimizationLevel?: number;
}

/** {@link TensorRtChoice} plus where caches live and what the bundle folder holds. */
export interface TensorRtSetupInput extends TensorRtChoice {
  /** Root folder of all engine caches (see {@link defaultEngineCacheRoot}). */
  cacheRoot: string;
  /** The bundle's calibration table, from {@link findCalibrationTable}. */
  calibrationTable?: CalibrationTable;
}

type Flag = '0' | '1';

/** One TensorRT entry of `executionProviders`, for one model file. */
export interface TensorRtProviderOptions {
  readonly name: 'tensorrt';
  /** A number: the only key the stock binding reads; the patched one passes it as `device_id`. */
  deviceId: number;
  trt_fp16_enable: Flag;
  trt_int8_enable: Flag;
  trt_engine_cache_enable: '1';
  trt_engine_cache_path: string;
  trt_timing_cache_enable: '1';
  trt_timing_cache_path: string;
  trt_profile_min_shapes: string;
  trt_profile_opt_shapes: string;
  trt_profile_max_shapes: string;
  trt_max_workspace_size: string;
  trt_int8_calibration_table_name?: string;
  trt_int8_use_native_calibration_table?: Flag;
  trt_dla_enable?: Flag;
  trt_dla_core?: string;
  trt_builder_optimization_level?: string;
}

/** The options of each model file of a bundle, and where their caches go. */
export interface TensorRtSetup {
  modelId: string;
  precision: BundleManifest['precision'];
  fp16: boolean;
  int8: boolean;
  /** Engines and profiles of this bundle (one folder per model id). */
  cacheDir: string;
  /** Timing cache, shared by all bundles: it holds kernel timings, not weights. */
  timingCacheDir: string;
  calibrationTable?: CalibrationTable;
  models: { role: BundleModelFile['role']; path: string; providerOptions: TensorRtProviderOptions }[];
}

/**
 * Builds the TensorRT provider options for every model file of a bundle. Refuses, with an
 * {@link InvalidArgumentError} naming the option, any choice TensorRT would not honour.
 *
 * @example
 * ```ts
 * const bundle = await loadBundle('models/jetface-s');
 * const setup = tensorrtOptions(bundle, { fp16: true, cacheRoot: defaultEngineCacheRoot() });
 * await ort.InferenceSession.create(setup.models[0]!.path, { executionProviders: [setup.models[0]!.providerOptions, 'cpu'] });
 * ```
 */
export function tensorrtOptions(bundle: ModelBundle, input: TensorRtSetupInput): TensorRtSetup {
  const { manifest } = bundle;
  const deviceId = integer('deviceId', input.deviceId ?? 0, TENSORRT_LIMITS.deviceId);
  const workspaceMb = integer('workspaceMb', input.workspaceMb ?? DEFAULT_WORKSPACE_MB, TENSORRT_LIMITS.workspaceMb);
  const dlaCore = input.dlaCore === undefined ? undefined : integer('dlaCore', input.dlaCore, TENSORRT_LIMITS.dlaCore);
  const level =
    input.builderOptimizationLevel === undefined
      ? undefined
      : integer('builderOptimizationLevel', input.builderOptimizationLevel, TENSORRT_LIMITS.builderOptimizationLevel);
  if (typeof input.cacheRoot !== 'string' || input.cacheRoot.trim() === '') throw new InvalidArgumentError('cacheRoot', 'a folder path', input.cacheRoot);
  const { fp16, int8, table } = precisionFlags(manifest.precision, input);
  if (dlaCore !== undefined && !fp16 && !int8) {
    throw new InvalidArgumentError('dlaCore', 'used with fp16 or int8 (DLA runs no fp32 layers): add fp16', dlaCore);
  }

  const cacheDir = join(resolve(input.cacheRoot), safeFolderName(manifest.modelId));
  const timingCacheDir = join(resolve(input.cacheRoot), 'timing');
  const models = bundle.modelFiles.map((file) => {
    const spec = inputSpec(manifest, file.role);
    const shape = profileShape(spec);
    // A dynamic input (manifest dynamicInput): one profile from the smallest input to the largest, tuned
    // for the bundle's own size; otherwise min = opt = max, one exact profile and no rebuild at run time.
    const dynamic = manifest.kind === 'joint' ? manifest.dynamicInput : undefined;
    const providerOptions: TensorRtProviderOptions = {
      name: 'tensorrt',
      deviceId,
      trt_fp16_enable: flag(fp16),
      trt_int8_enable: flag(int8),
      trt_engine_cache_enable: '1',
      trt_engine_cache_path: cacheDir,
      trt_timing_cache_enable: '1',
      trt_timing_cache_path: timingCacheDir,
      trt_profile_min_shapes: dynamic ? profileShape({ ...spec, width: dynamic.multiple, height: dynamic.multiple }) : shape,
      trt_profile_opt_shapes: shape,
      trt_profile_max_shapes: dynamic ? profileShape({ ...spec, width: dynamic.maxSide, height: dynamic.maxSide }) : shape,
      trt_max_workspace_size: String(workspaceMb * 1024 * 1024),
      ...(table ? { trt_int8_calibration_table_name: table.file, trt_int8_use_native_calibration_table: flag(table.native) } : {}),
      ...(dlaCore !== undefined ? { trt_dla_enable: '1' as const, trt_dla_core: String(dlaCore) } : {}),
      ...(level !== undefined ? { trt_builder_optimization_level: String(level) } : {}),
    };
    return { role: file.role, path: file.path, providerOptions };
  });
  return {
    modelId: manifest.modelId,
    precision: manifest.precision,
    fp16,
    int8,
    cacheDir,
    timingCacheDir,
    ...(table ? { calibrationTable: table } : {}),
    models,
  };
}

/** The precision rules: what each bundle precision allows and implies. */
function precisionFlags(precision: BundleManifest['precision'], input: TensorRtSetupInput): { fp16: boolean; int8: boolean; table?: CalibrationTable } {
  switch (precision) {
    case 'int8-qdq-cpu':
      throw new InvalidArgumentError(
        'bundle precision',
        'fp32, fp16 or int8-qdq-tensorrt for TensorRT (int8-qdq-cpu quantizes layer outputs for the CPU EP; re-quantize with the tensorrt placement, or use the fp32 bundle)',
        precision,
      );
    case 'int8-qdq-tensorrt':
      // Explicit quantization: the scales are in the graph's Q/DQ nodes.
      if (input.int8 === false) throw new InvalidArgumentError('int8', 'on for an int8-qdq-tensorrt bundle (its Q/DQ nodes need INT8 kernels)', false);
      if (input.calibrationTable) {
        throw new InvalidArgumentError(
          'calibrationTable',
          'absent for an int8-qdq-tensorrt bundle (TensorRT refuses a calibration table for a graph with Q/DQ nodes): remove it from the bundle',
          input.calibrationTable.file,
        );
      }
      return { fp16: input.fp16 ?? false, int8: true };
    case 'fp16':
      if (input.fp16 === false) throw new InvalidArgumentError('fp16', 'on for an fp16 bundle (its weights are half precision)', false);
      return implicitInt8(true, input);
    case 'fp32':
      return implicitInt8(input.fp16 ?? false, input);
  }
}

/** INT8 on a float model: TensorRT quantizes it itself, from the bundle's calibration table. */
function implicitInt8(fp16: boolean, input: TensorRtSetupInput): { fp16: boolean; int8: boolean; table?: CalibrationTable } {
  if (!input.int8) return { fp16, int8: false };
  if (!input.calibrationTable) {
    throw new InvalidArgumentError(
      'int8',
      `off for a float bundle without a calibration table (add ${CALIBRATION_TABLE_FILES.native} or ${CALIBRATION_TABLE_FILES.onnxruntime} to the bundle, or use an int8-qdq-tensorrt bundle)`,
      true,
    );
  }
  return { fp16, int8: true, table: input.calibrationTable };
}

function inputSpec(manifest: BundleManifest, role: BundleModelFile['role']): Omit<TensorInputSpec, 'resize'> {
  if (manifest.kind === 'joint') return manifest.input;
  return role === 'recognizer' ? manifest.recognizer.input : manifest.detector.input;
}

/** `name:1xHxWx3` (nhwc) or `name:1x3xHxW` (nchw), the EP's `input:dim1xdim2...` format, batch 1. */
export function profileShape(spec: Pick<TensorInputSpec, 'name' | 'width' | 'height' | 'layout'>): string {
  // The EP splits the option on ',' and ':'; such a tensor name cannot be written in it.
  if (/[,:]/.test(spec.name)) throw new InvalidArgumentError('input name', "a tensor name without ',' or ':' (TensorRT profile syntax)", spec.name);
  const dims = spec.layout === 'nhwc' ? [1, spec.height, spec.width, 3] : [1, 3, spec.height, spec.width];
  return `${spec.name}:${dims.join('x')}`;
}

/**
 * Where engine caches go unless told: `$JETFACE_CACHE_DIR/tensorrt`, else
 * `$XDG_CACHE_HOME/jetface/tensorrt`, else `~/.cache/jetface/tensorrt`.
 */
export function defaultEngineCacheRoot(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env['JETFACE_CACHE_DIR']) return join(env['JETFACE_CACHE_DIR'], 'tensorrt');
  if (env['XDG_CACHE_HOME']) return join(env['XDG_CACHE_HOME'], 'jetface', 'tensorrt');
  return join(home, '.cache', 'jetface', 'tensorrt');
}

/**
 * The bundle's calibration table, if it has one: the native TensorRT cache first, else
 * onnxruntime's flatbuffers table. A native cache must start with its `TRT-` header line;
 * anything else under that name (onnxruntime's tool writes a plain-text file of the same name)
 * is refused rather than fed to the builder.
 */
export async function findCalibrationTable(bundleDir: string): Promise<CalibrationTable | undefined> {
  const isFile = async (file: string): Promise<boolean> => (await stat(join(bundleDir, file)).catch(() => undefined))?.isFile() ?? false;
  if (await isFile(CALIBRATION_TABLE_FILES.native)) {
    const head = (await readFile(join(bundleDir, CALIBRATION_TABLE_FILES.native), 'utf8')).slice(0, 4);
    if (head === 'TRT-') return { file: CALIBRATION_TABLE_FILES.native, native: true };
    if (!(await isFile(CALIBRATION_TABLE_FILES.onnxruntime))) {
      throw new InvalidArgumentError(CALIBRATION_TABLE_FILES.native, 'a TensorRT calibration cache (first line "TRT-...")', head);
    }
  }
  return (await isFile(CALIBRATION_TABLE_FILES.onnxruntime)) ? { file: CALIBRATION_TABLE_FILES.onnxruntime, native: false } : undefined;
}

/** Model ids may hold ':' (e.g. `jetface-s:94eef95370bf`); keep folder names portable. */
export function safeFolderName(modelId: string): string {
  return modelId.replace(/[^A-Za-z0-9._-]/g, '_');
}

function integer(name: string, value: unknown, [min, max]: readonly [number, number]): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(name, `an integer in ${min}..${max}`, value);
  }
  return value;
}

function flag(on: boolean): Flag {
  return on ? '1' : '0';
}
