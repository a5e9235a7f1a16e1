import type { Command } from 'commander';
import { loadBundle } from '../../bundle/load-bundle';
import { InvalidArgumentError } from '../../errors';
import { prebuildEngines, type EngineBuildProgress, type PrebuildOptions } from '../../../toolchain/engine/prebuild';
import {
  DEFAULT_WORKSPACE_MB,
  TENSORRT_LIMITS,
  defaultEngineCacheRoot,
  findCalibrationTable,
  tensorrtOptions,
  type TensorRtChoice,
} from '../../engine/tensorrt-options';
import { jsonOption, parseNumber } from '../shared-options';

interface EngineCliOptions {
  bundle: string;
  fp16?: boolean;
  int8?: boolean;
  cache?: string;
  device: string;
  workspaceMb: string;
  dlaCore?: string;
  rebuild?: boolean;
  verbose?: boolean;
  printOptions?: boolean;
  json?: boolean;
}

/**
 * `jetface model engine`: build and cache a bundle's TensorRT engines on this device, or with
 * `--print-options` show the provider options that would be used (no GPU needed).
 *
 * @example
 * ```ts
 * const model = program.command('model').description('model tools');
 * registerModelEngine(model); // jetface model engine --bundle models/jetface-s --fp16
 * ```
 */
export function registerModelEngine(model: Command): void {
  model
    .command('engine')
    .description("build the bundle's TensorRT engine(s) into the engine cache (on the Jetson, at install time)")
    .requiredOption('--bundle <dir>', 'model bundle folder')
    .option('--fp16', 'let TensorRT use fp16 kernels (implied by an fp16 bundle)')
    .option('--int8', 'INT8 (implied by an int8-qdq-tensorrt bundle; a float bundle needs a calibration table)')
    .option('--cache <dir>', `engine cache root (default ${defaultEngineCacheRoot()}); the runtime must use the same`)
    .option('--device <n>', 'GPU index', '0')
    .option('--workspace-mb <n>', 'TensorRT builder workspace in MiB', String(DEFAULT_WORKSPACE_MB))
    .option('--dla-core <n>', 'build for this DLA core (Orin AGX/NX; needs --fp16 or --int8)')
    .option('--rebuild', 'delete cached engines and the timing cache first (after a JetPack/TensorRT upgrade)')
    .option('--verbose', 'show the onnxruntime/TensorRT build log')
    .option('--print-options', 'print the TensorRT provider options and exit (works without a GPU)')
    .addOption(jsonOption())
    .action(async (o: EngineCliOptions) => {
      const choice = parseChoice(o);
      if (o.printOptions) {
        const bundle = await loadBundle(o.bundle);
        const table = await findCalibrationTable(bundle.dir);
        const setup = tensorrtOptions(bundle, { ...choice, cacheRoot: o.cache ?? defaultEngineCacheRoot(), ...(table ? { calibrationTable: table } : {}) });
        console.log(JSON.stringify(setup, null, o.json ? undefined : 2));
        return;
      }
      const options: PrebuildOptions = {
        ...choice,
        ...(o.cache !== undefined ? { cacheRoot: o.cache } : {}),
        ...(o.rebuild ? { rebuild: true } : {}),
        ...(o.verbose ? { verbose: true } : {}),
      };
      const result = await prebuildEngines(o.bundle, options, o.json ? (e) => console.log(JSON.stringify({ event: 'progress', ...e })) : textProgress());
      if (o.json) {
        console.log(JSON.stringify({ event: 'result', ...result }));
        return;
      }
      console.log(`engines of ${result.modelId} (${result.fp16 ? 'fp16 ' : ''}${result.int8 ? 'int8 ' : ''}${result.precision} bundle) in ${result.cacheDir}:`);
      for (const f of result.cacheFiles) console.log(`  ${f.path}  ${(f.bytes / 1048576).toFixed(1)} MiB`);
    });
}

function parseChoice(o: EngineCliOptions): TensorRtChoice {
  return {
    ...(o.fp16 ? { fp16: true } : {}),
    ...(o.int8 ? { int8: true } : {}),
    deviceId: integerFlag('--device', o.device, TENSORRT_LIMITS.deviceId),
    workspaceMb: integerFlag('--workspace-mb', o.workspaceMb, TENSORRT_LIMITS.workspaceMb),
    ...(o.dlaCore !== undefined ? { dlaCore: integerFlag('--dla-core', o.dlaCore, TENSORRT_LIMITS.dlaCore) } : {}),
  };
}

function integerFlag(flag: string, text: string, [min, max]: readonly [number, number]): number {
  const value = parseNumber(flag, text);
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgumentError(flag, `an integer in ${min}..${max}`, text);
  return value;
}

/**
 * Human progress on stderr: phase changes, and the running build's clock (rewritten in place
 * on a terminal, a line every 10 s otherwise) so that a minutes-long build visibly lives.
 */
function textProgress(): (e: EngineBuildProgress) => void {
  const tty = process.stderr.isTTY;
  let lastPhase = '';
  let lastLine = -Infinity;
  return (e) => {
    const name = `${e.role} ${e.index}/${e.count}`;
    if (e.phase === 'building' && lastPhase === 'building') {
      if (tty) process.stderr.write(`\r  building ${name}: ${Math.round(e.elapsedS)} s`);
      else if (e.elapsedS - lastLine >= 10) {
        process.stderr.write(`  building ${name}: ${Math.round(e.elapsedS)} s\n`);
        lastLine = e.elapsedS;
      }
      return;
    }
    if (tty && lastPhase === 'building') process.stderr.write('\n');
    const detail = e.phase === 'failed' ? `: ${e.reason ?? ''}` : e.phase === 'ready' ? ` in ${e.elapsedS} s` : '';
    process.stderr.write(`${e.phase} ${name} (${e.model})${detail}\n`);
    lastPhase = e.phase;
    lastLine = e.elapsedS;
  };
}
