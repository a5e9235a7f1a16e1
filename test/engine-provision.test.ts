/**
 * TensorRT provisioning: the provider options built for each bundle precision, their
 * validation, the `jetface model engine` command, and the prebuild's fallback on a machine
 * without TensorRT (this one): a typed error, quickly, with progress events.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { loadBundle, type ModelBundle } from '../sdk/bundle/load-bundle';
import { parseManifest, type BundleManifest } from '../sdk/bundle/manifest';
import { registerModelEngine } from '../sdk/cli/commands/model-engine';
import { JetfaceError } from '../sdk/errors';
import { prebuildEngines, type EngineBuildProgress } from '../toolchain/engine/prebuild';
import {
  CALIBRATION_TABLE_FILES,
  defaultEngineCacheRoot,
  findCalibrationTable,
  profileShape,
  tensorrtOptions,
  type TensorRtSetupInput,
} from '../sdk/engine/tensorrt-options';
import { tempDir } from './support/data';

const BUNDLE_DIR = resolve(__dirname, '..', 'models', 'jetface-s');
const CACHE = '/var/cache/jetface/tensorrt';

let bundle: ModelBundle;
beforeAll(async () => {
  bundle = await loadBundle(BUNDLE_DIR);
});

/** The default bundle with another precision (the options only read the manifest). */
function withPrecision(precision: BundleManifest['precision']): ModelBundle {
  return { ...bundle, manifest: { ...bundle.manifest, precision } };
}

/** Runs `fn` and returns the JetfaceError it throws (fails the test if it throws none). */
function thrown(fn: () => unknown): JetfaceError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(JetfaceError);
    return error as JetfaceError;
  }
  throw new Error('expected a JetfaceError');
}

function expectInvalid(fn: () => unknown, name: string): JetfaceError {
  const error = thrown(fn);
  expect(error.code).toBe('E_INVALID_ARGUMENT');
  expect(error.details['name']).toBe(name);
  return error;
}

describe('tensorrtOptions', () => {
  const base: TensorRtSetupInput = { cacheRoot: CACHE };

  test('fp32 bundle: fp32 engine, per-model-id engine cache, shared timing cache, exact profile of the static input', () => {
    const setup = tensorrtOptions(bundle, base);
    expect(setup).toMatchObject({ modelId: bundle.manifest.modelId, precision: 'fp32', fp16: false, int8: false });
    expect(setup.cacheDir).toBe(join(CACHE, bundle.manifest.modelId.replace(':', '_')));
    expect(setup.timingCacheDir).toBe(join(CACHE, 'timing'));
    expect(setup.models).toHaveLength(1);
    expect(setup.models[0]!.role).toBe('model');
    expect(setup.models[0]!.path).toBe(join(BUNDLE_DIR, 'model.onnx'));
    expect(setup.models[0]!.providerOptions).toEqual({
      name: 'tensorrt',
      deviceId: 0,
      trt_fp16_enable: '0',
      trt_int8_enable: '0',
      trt_engine_cache_enable: '1',
      trt_engine_cache_path: join(CACHE, bundle.manifest.modelId.replace(':', '_')),
      trt_timing_cache_enable: '1',
      trt_timing_cache_path: join(CACHE, 'timing'),
      // The default bundle's input is dynamic (multiples of 32 up to 1920): one profile over that range, tuned at 640.
      trt_profile_min_shapes: 'image:1x32x32x3',
      trt_profile_opt_shapes: 'image:1x640x640x3',
      trt_profile_max_shapes: 'image:1x1920x1920x3',
      trt_max_workspace_size: String(1024 * 1024 * 1024),
    });
  });

  test('a static input gets one exact profile: min = opt = max', () => {
    const fixed = { ...bundle, manifest: { ...bundle.manifest, dynamicInput: undefined } } as typeof bundle;
    const o = tensorrtOptions(fixed, base).models[0]!.providerOptions;
    expect([o.trt_profile_min_shapes, o.trt_profile_opt_shapes, o.trt_profile_max_shapes]).toEqual(Array(3).fill('image:1x640x640x3'));
  });

  test('every trt_* value is a string, as UpdateTensorRTProviderOptions takes it; deviceId stays a number for the stock binding', () => {
    const o = tensorrtOptions(bundle, { ...base, fp16: true, deviceId: 1, workspaceMb: 512, dlaCore: 1, builderOptimizationLevel: 2 }).models[0]!.providerOptions;
    for (const [key, value] of Object.entries(o)) {
      if (key.startsWith('trt_')) expect(typeof value).toBe('string');
    }
    expect(o).toMatchObject({ deviceId: 1, trt_fp16_enable: '1', trt_max_workspace_size: String(512 * 1048576), trt_dla_enable: '1', trt_dla_core: '1', trt_builder_optimization_level: '2' });
  });

  test('a relative cache root is made absolute (the EP resolves paths against the process cwd)', () => {
    const setup = tensorrtOptions(bundle, { cacheRoot: 'cache/trt' });
    expect(setup.cacheDir).toBe(resolve('cache/trt', bundle.manifest.modelId.replace(':', '_')));
  });

  test('fp32 bundle: --int8 needs the calibration table of implicit quantization', () => {
    const error = expectInvalid(() => tensorrtOptions(bundle, { ...base, int8: true }), 'int8');
    expect(error.message).toContain(CALIBRATION_TABLE_FILES.native);
    const native = tensorrtOptions(bundle, { ...base, int8: true, calibrationTable: { file: CALIBRATION_TABLE_FILES.native, native: true } });
    expect(native.models[0]!.providerOptions).toMatchObject({ trt_int8_enable: '1', trt_int8_calibration_table_name: 'calibration.cache', trt_int8_use_native_calibration_table: '1' });
    const ortTable = tensorrtOptions(bundle, { ...base, int8: true, fp16: true, calibrationTable: { file: CALIBRATION_TABLE_FILES.onnxruntime, native: false } });
    expect(ortTable.models[0]!.providerOptions).toMatchObject({ trt_fp16_enable: '1', trt_int8_calibration_table_name: 'calibration.flatbuffers', trt_int8_use_native_calibration_table: '0' });
  });

  test('fp32 bundle with a table but no --int8: the table is not used', () => {
    const o = tensorrtOptions(bundle, { ...base, calibrationTable: { file: CALIBRATION_TABLE_FILES.native, native: true } }).models[0]!.providerOptions;
    expect(o.trt_int8_enable).toBe('0');
    expect(o).not.toHaveProperty('trt_int8_calibration_table_name');
  });

  test('fp16 bundle: fp16 is implied and cannot be switched off', () => {
    expect(tensorrtOptions(withPrecision('fp16'), base).models[0]!.providerOptions.trt_fp16_enable).toBe('1');
    expectInvalid(() => tensorrtOptions(withPrecision('fp16'), { ...base, fp16: false }), 'fp16');
  });

  test('int8-qdq-tensorrt bundle: INT8 on by default, fp16 allowed, never a calibration table (explicit quantization)', () => {
    const qdq = withPrecision('int8-qdq-tensorrt');
    const o = tensorrtOptions(qdq, base).models[0]!.providerOptions;
    expect(o).toMatchObject({ trt_int8_enable: '1', trt_fp16_enable: '0' });
    expect(o).not.toHaveProperty('trt_int8_calibration_table_name');
    expect(o).not.toHaveProperty('trt_int8_use_native_calibration_table');
    expect(tensorrtOptions(qdq, { ...base, fp16: true }).models[0]!.providerOptions.trt_fp16_enable).toBe('1');
    expectInvalid(() => tensorrtOptions(qdq, { ...base, int8: false }), 'int8');
    const error = expectInvalid(() => tensorrtOptions(qdq, { ...base, calibrationTable: { file: CALIBRATION_TABLE_FILES.native, native: true } }), 'calibrationTable');
    expect(error.message).toContain('Q/DQ');
  });

  test('int8-qdq-cpu bundle: refused for TensorRT, saying why', () => {
    const error = expectInvalid(() => tensorrtOptions(withPrecision('int8-qdq-cpu'), base), 'bundle precision');
    expect(error.message).toContain('"int8-qdq-cpu"');
    expect(error.message).toContain('tensorrt placement');
  });

  test('every numeric option is validated, naming the option and its range', () => {
    expect(expectInvalid(() => tensorrtOptions(bundle, { ...base, deviceId: -1 }), 'deviceId').message).toContain('0..64');
    expectInvalid(() => tensorrtOptions(bundle, { ...base, deviceId: 0.5 }), 'deviceId');
    expect(expectInvalid(() => tensorrtOptions(bundle, { ...base, workspaceMb: 8 }), 'workspaceMb').message).toContain('16..65536');
    expectInvalid(() => tensorrtOptions(bundle, { ...base, fp16: true, dlaCore: 2 }), 'dlaCore');
    expectInvalid(() => tensorrtOptions(bundle, { ...base, builderOptimizationLevel: 6 }), 'builderOptimizationLevel');
    expectInvalid(() => tensorrtOptions(bundle, { cacheRoot: ' ' }), 'cacheRoot');
  });

  test('DLA needs fp16 or int8: DLA has no fp32 layers', () => {
    expect(expectInvalid(() => tensorrtOptions(bundle, { ...base, dlaCore: 0 }), 'dlaCore').message).toContain('fp16');
    expect(tensorrtOptions(bundle, { ...base, fp16: true, dlaCore: 0 }).models[0]!.providerOptions).toMatchObject({ trt_dla_enable: '1', trt_dla_core: '0' });
  });

  test('cascade bundle: one option set per model, each with its own input profile', () => {
    const manifest = parseManifest({
      format: 'jetface-bundle',
      formatVersion: 1,
      kind: 'cascade',
      name: 'c',
      modelId: 'c:1:2',
      precision: 'fp32',
      embeddingDim: 128,
      thresholds: { detection: 0.6, nmsIou: 0.3, match: 0.4 },
      detector: {
        file: 'detector.onnx',
        sha256: 'a'.repeat(64),
        architecture: 'yunet',
        strides: [8, 16, 32],
        input: { name: 'input', width: 640, height: 480, layout: 'nchw', dtype: 'float32', colorOrder: 'bgr' },
      },
      recognizer: {
        file: 'recognizer.onnx',
        sha256: 'b'.repeat(64),
        input: { name: 'data', width: 112, height: 112, layout: 'nchw', dtype: 'float32', colorOrder: 'rgb' },
        output: 'fc1',
        alignment: 'arcface-112',
      },
    });
    const cascade: ModelBundle = {
      dir: '/b',
      manifest,
      modelFiles: [
        { role: 'detector', path: '/b/detector.onnx', sha256: 'a'.repeat(64) },
        { role: 'recognizer', path: '/b/recognizer.onnx', sha256: 'b'.repeat(64) },
      ],
    };
    const setup = tensorrtOptions(cascade, base);
    expect(setup.cacheDir).toBe(join(CACHE, 'c_1_2'));
    expect(setup.models.map((m) => [m.role, m.providerOptions.trt_profile_opt_shapes])).toEqual([
      ['detector', 'input:1x3x480x640'],
      ['recognizer', 'data:1x3x112x112'],
    ]);
  });

  test('profileShape refuses a tensor name the profile syntax cannot hold', () => {
    expect(profileShape({ name: 'x', width: 4, height: 2, layout: 'nhwc' })).toBe('x:1x2x4x3');
    expectInvalid(() => profileShape({ name: 'a:b', width: 4, height: 2, layout: 'nhwc' }), 'input name');
  });

  test('defaultEngineCacheRoot: JETFACE_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultEngineCacheRoot({ JETFACE_CACHE_DIR: '/srv/jf', XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/srv/jf/tensorrt');
    expect(defaultEngineCacheRoot({ XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/x/jetface/tensorrt');
    expect(defaultEngineCacheRoot({}, '/home/u')).toBe('/home/u/.cache/jetface/tensorrt');
  });
});

describe('findCalibrationTable', () => {
  const NATIVE = 'TRT-8601-EntropyCalibration2\nimage: 3c010a14\n';

  test('none; the native TensorRT cache of `model calibrate` first; else the onnxruntime table', async () => {
    const dir = tempDir();
    expect(await findCalibrationTable(dir)).toBeUndefined();
    writeFileSync(join(dir, CALIBRATION_TABLE_FILES.onnxruntime), 'x');
    expect(await findCalibrationTable(dir)).toEqual({ file: 'calibration.flatbuffers', native: false });
    writeFileSync(join(dir, CALIBRATION_TABLE_FILES.native), NATIVE);
    expect(await findCalibrationTable(dir)).toEqual({ file: 'calibration.cache', native: true });
  });

  test('a calibration.cache without the TRT- header is refused, unless a flatbuffers table stands beside it', async () => {
    const bad = tempDir();
    writeFileSync(join(bad, CALIBRATION_TABLE_FILES.native), 'image 0.5\n'); // onnxruntime's plain-text dump
    await expect(findCalibrationTable(bad)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', details: { name: 'calibration.cache' } });
    writeFileSync(join(bad, CALIBRATION_TABLE_FILES.onnxruntime), 'x');
    expect(await findCalibrationTable(bad)).toEqual({ file: 'calibration.flatbuffers', native: false });
  });
});

/** A copy of the default bundle whose manifest `edit` may change. */
function bundleCopy(edit: (manifest: Record<string, unknown>) => void = () => undefined): string {
  const dir = join(tempDir(), 'bundle');
  cpSync(BUNDLE_DIR, dir, { recursive: true });
  const file = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(manifest);
  writeFileSync(file, JSON.stringify(manifest));
  return dir;
}

describe('prebuildEngines without TensorRT (this machine)', () => {
  test('fails with E_PROVIDER_UNAVAILABLE within seconds, naming tensorrt and why, after progress events', async () => {
    const events: EngineBuildProgress[] = [];
    const start = Date.now();
    const error = await prebuildEngines(BUNDLE_DIR, { cacheRoot: tempDir(), fp16: true }, (e) => events.push(e)).then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = Date.now() - start;
    expect(error).toBeInstanceOf(JetfaceError);
    const typed = error as JetfaceError;
    expect(typed.code).toBe('E_PROVIDER_UNAVAILABLE');
    expect(typed.details['attempts']).toEqual([{ provider: 'tensorrt', reason: expect.any(String) }]);
    expect(typed.message).toContain('docs/jetson.md');
    // The budget is "a second or two"; 5 s leaves room for a loaded CI machine.
    expect(ms).toBeLessThan(5000);

    expect(events[0]).toMatchObject({ phase: 'loading', role: 'model', index: 1, count: 1, cacheFiles: [] });
    const last = events[events.length - 1]!;
    expect(last.phase).toBe('failed');
    expect(last.reason).toContain('tensorrt');
    expect(last.model).toBe(join(BUNDLE_DIR, 'model.onnx'));
    expect(events.every((e) => e.elapsedS >= 0 && e.elapsedS < 5)).toBe(true);
    expect(events.map((e) => e.phase)).not.toContain('ready');
  });

  test('a bundle TensorRT cannot take is refused before any worker starts', async () => {
    const dir = bundleCopy((m) => {
      m['precision'] = 'int8-qdq-cpu';
    });
    const events: EngineBuildProgress[] = [];
    await expect(prebuildEngines(dir, { cacheRoot: tempDir() }, (e) => events.push(e))).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      details: { name: 'bundle precision' },
    });
    expect(events).toEqual([]);
  });

  test('a float bundle carrying a calibration table may ask for int8; the options name the table', async () => {
    const dir = bundleCopy();
    writeFileSync(join(dir, CALIBRATION_TABLE_FILES.native), 'TRT-8601-EntropyCalibration2\nimage: 3c010a14\n');
    const copy = await loadBundle(dir);
    const table = await findCalibrationTable(copy.dir);
    const setup = tensorrtOptions(copy, { cacheRoot: CACHE, int8: true, ...(table ? { calibrationTable: table } : {}) });
    expect(setup.calibrationTable).toEqual({ file: 'calibration.cache', native: true });
    expect(setup.models[0]!.providerOptions.trt_int8_calibration_table_name).toBe('calibration.cache');
  });
});

describe('jetface model engine', () => {
  /** A fresh `jetface` with a `model` group, as the CLI's main builds it. */
  async function run(...args: string[]): Promise<{ out: string[]; err: string[]; error?: unknown }> {
    const program = new Command('jetface').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerModelEngine(program.command('model'));
    const out: string[] = [];
    const err: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => err.push(String(s)) > 0);
    try {
      await program.parseAsync(['node', 'jetface', 'model', 'engine', ...args]);
      return { out, err };
    } catch (error) {
      return { out, err, error };
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
  }

  test('--print-options prints the options that would be passed, without a GPU', async () => {
    const cache = tempDir();
    const r = await run('--bundle', BUNDLE_DIR, '--cache', cache, '--fp16', '--device', '0', '--workspace-mb', '256', '--print-options', '--json');
    expect(r.error).toBeUndefined();
    expect(r.out).toHaveLength(1);
    const printed = JSON.parse(r.out[0]!) as unknown;
    expect(printed).toEqual(JSON.parse(JSON.stringify(tensorrtOptions(bundle, { cacheRoot: cache, fp16: true, deviceId: 0, workspaceMb: 256 }))));
  });

  test('bad flags are refused with the flag named', async () => {
    for (const [flag, value] of [
      ['--device', 'x'],
      ['--device', '-1'],
      ['--workspace-mb', '8'],
      ['--dla-core', '3'],
    ] as const) {
      const r = await run('--bundle', BUNDLE_DIR, flag, value, '--print-options');
      expect(r.error).toMatchObject({ code: 'E_INVALID_ARGUMENT', details: { name: flag } });
    }
  });

  test('without TensorRT the build fails with E_PROVIDER_UNAVAILABLE; --json streams the progress events', async () => {
    const r = await run('--bundle', BUNDLE_DIR, '--cache', tempDir(), '--json');
    expect(r.error).toMatchObject({ code: 'E_PROVIDER_UNAVAILABLE' });
    const lines = r.out.map((l) => JSON.parse(l) as { event: string; phase: string });
    expect(lines[0]).toMatchObject({ event: 'progress', phase: 'loading' });
    expect(lines[lines.length - 1]).toMatchObject({ event: 'progress', phase: 'failed' });
  });

  test('text mode reports phases on stderr', async () => {
    const r = await run('--bundle', BUNDLE_DIR, '--cache', tempDir());
    expect(r.error).toMatchObject({ code: 'E_PROVIDER_UNAVAILABLE' });
    const text = r.err.join('');
    expect(text).toContain('loading model 1/1');
    expect(text).toContain('failed model 1/1');
  });
});

describe('FaceEngine with TensorRT options on a machine without TensorRT', () => {
  test('the options are built for the bundle and the engine falls back to the CPU, saying why', async () => {
    const { FaceEngine } = await import('../sdk/engine/face-engine');
    const engine = await FaceEngine.create(resolve(__dirname, '../models/jetface-s'), { tensorrt: { fp16: true, cacheRoot: tempDir() }, warmup: false });
    try {
      expect(engine.info.provider).toBe('cpu');
      expect(engine.info.providerAttempts.find((a) => a.provider === 'tensorrt')?.ok).toBe(false);
    } finally {
      await engine.close();
    }
  });

  test('a TensorRT choice the bundle cannot honour is refused before any model loads', async () => {
    const { FaceEngine } = await import('../sdk/engine/face-engine');
    await expect(FaceEngine.create(resolve(__dirname, '../models/jetface-s'), { tensorrt: { int8: true, cacheRoot: tempDir() } })).rejects.toThrow(/calibration table/);
  });
});
