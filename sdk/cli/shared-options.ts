import { Option, type Command } from 'commander';
import { FaceEngine } from '../engine/face-engine';
import { inputSizeArg } from '../engine/input-size';
import { EXECUTION_PROVIDERS, validateProviderOrder } from '../engine/providers';
import { InvalidArgumentError } from '../errors';

/** Options every command that opens an engine accepts. */
export interface EngineCliOptions {
  bundle: string;
  providers?: string;
  threads?: string;
  minScore?: string;
  inputSize?: string;
}

export function addEngineOptions(command: Command): Command {
  return command
    .requiredOption('--bundle <dir>', 'model bundle folder')
    .option('--providers <list>', `execution providers to try in order (${EXECUTION_PROVIDERS.join(',')})`)
    .option('--threads <n>', 'CPU intra-op threads (0 = onnxruntime decides)')
    .option('--min-score <p>', "minimum face score (default: the bundle's)")
    .option('--input-size <size>', "bundle | frame | auto | longest side in px: large frames at their own resolution, or (auto) a second, larger pass when faces are small, up to 2x a small frame (bundles with a dynamic input)");
}

export function openEngine(o: EngineCliOptions): Promise<FaceEngine> {
  return FaceEngine.create(o.bundle, {
    ...(o.providers ? { providers: validateProviderOrder(o.providers.split(',').map((p) => p.trim())) } : {}),
    ...(o.threads !== undefined ? { threads: parseNumber('--threads', o.threads) } : {}),
    ...(o.minScore !== undefined ? { minScore: parseNumber('--min-score', o.minScore) } : {}),
    ...(o.inputSize !== undefined ? { inputSize: inputSizeArg(o.inputSize) } : {}),
  });
}

export function parseNumber(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new InvalidArgumentError(flag, 'a number', text);
  return value;
}

export function jsonOption(): Option {
  return new Option('--json', 'print JSON (one object per line) instead of text');
}

/** Rounds for display and JSON: enough digits for pixels and milliseconds, none of float noise. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
