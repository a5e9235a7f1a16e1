/**
 * The settings an evaluation runs with (canvas side and fill for LFW crops, minimum face score),
 * each resolved as flag > the bundle's `evaluation` block > the built-in default, and reported with
 * where it came from, so two bundles are compared with one command line and a report says what ran.
 */
import { loadBundle } from '../bundle/load-bundle';
import type { BundleManifest } from '../bundle/manifest';
import { InvalidArgumentError } from '../errors';
import { CANVAS_FILLS, type CanvasFill } from './canvas';

/**
 * Where a setting came from: a command-line flag, the manifest's `evaluation` block, the manifest's
 * `thresholds.detection` (minimum score only), or jetface's built-in default.
 */
export type SettingSource = 'flag' | 'manifest.evaluation' | 'manifest.thresholds.detection' | 'built-in';

/** One resolved setting. */
export interface ResolvedSetting<T> {
  value: T;
  from: SettingSource;
}

/**
 * The resolved evaluation settings of one bundle.
 *
 * @example
 * ```ts
 * const s: EvaluationSettings = resolveEvaluationSettings(manifest, { canvas: 320 });
 * // s.canvas -> { value: 320, from: 'flag' }, s.minScore -> { value: 0.6, from: 'manifest.thresholds.detection' }
 * ```
 */
export interface EvaluationSettings {
  canvas: ResolvedSetting<number>;
  fill: ResolvedSetting<CanvasFill>;
  minScore: ResolvedSetting<number>;
}

/** What a command was given on its command line (absent: not given). */
export interface EvaluationFlags {
  canvas?: number | undefined;
  fill?: string | undefined;
  minScore?: number | undefined;
}

/** jetface's defaults when neither a flag nor the bundle says (the LFW protocol of docs/BENCHMARKS.md). */
export const BUILT_IN_EVALUATION: { readonly canvas: number; readonly fill: CanvasFill } = { canvas: 160, fill: 'grey' };

/**
 * Resolves each setting as flag > `manifest.evaluation` > built-in; the minimum score falls back to
 * the bundle's `thresholds.detection` (what `detect()` uses anyway). Flags are checked here, naming
 * the flag; manifest values were checked when the manifest was parsed.
 *
 * @throws InvalidArgumentError for a `--canvas` that is not an integer 16–4096, a `--fill` that is
 *   not a known fill, or a `--min-score` outside 0–1.
 *
 * @example
 * ```ts
 * const s = resolveEvaluationSettings(engine.manifest, { minScore: 0.5 });
 * console.log(s.canvas.value, s.canvas.from); // 320 'manifest.evaluation' when the bundle says so
 * ```
 */
export function resolveEvaluationSettings(manifest: Pick<BundleManifest, 'evaluation' | 'thresholds'>, flags: EvaluationFlags = {}): EvaluationSettings {
  const { canvas, fill, minScore } = flags;
  if (canvas !== undefined && !(Number.isInteger(canvas) && canvas >= 16 && canvas <= 4096)) throw new InvalidArgumentError('--canvas', 'an integer 16–4096', canvas);
  if (fill !== undefined && !CANVAS_FILLS.includes(fill as CanvasFill)) throw new InvalidArgumentError('--fill', `one of ${CANVAS_FILLS.join(', ')}`, fill);
  if (minScore !== undefined && !(minScore >= 0 && minScore <= 1)) throw new InvalidArgumentError('--min-score', 'a number 0–1', minScore);
  const e = manifest.evaluation ?? {};
  return {
    canvas: pick(canvas, e.canvas, { value: BUILT_IN_EVALUATION.canvas, from: 'built-in' }),
    fill: pick(fill as CanvasFill | undefined, e.fill, { value: BUILT_IN_EVALUATION.fill, from: 'built-in' }),
    minScore: pick(minScore, e.minScore, { value: manifest.thresholds.detection, from: 'manifest.thresholds.detection' }),
  };
}

/**
 * {@link resolveEvaluationSettings} for a bundle folder, before an engine is opened (the minimum
 * score is an engine option). Checksums are left to the engine that opens the bundle next.
 *
 * @throws BundleNotFoundError / ManifestError as {@link loadBundle} does.
 *
 * @example
 * ```ts
 * const s = await readEvaluationSettings('models/jetface-s', {});
 * const engine = await FaceEngine.create('models/jetface-s', { minScore: s.minScore.value });
 * ```
 */
export async function readEvaluationSettings(bundleDir: string, flags: EvaluationFlags = {}): Promise<EvaluationSettings> {
  const { manifest } = await loadBundle(bundleDir, { verifyChecksums: false });
  return resolveEvaluationSettings(manifest, flags);
}

/** One line for text reports: `canvas 320 (manifest.evaluation), fill grey (built-in), min score 0.6 (...)`. */
export function describeSettings(settings: Partial<EvaluationSettings>): string {
  const parts: string[] = [];
  if (settings.canvas) parts.push(`canvas ${settings.canvas.value} (${settings.canvas.from})`);
  if (settings.fill) parts.push(`fill ${settings.fill.value} (${settings.fill.from})`);
  if (settings.minScore) parts.push(`min score ${settings.minScore.value} (${settings.minScore.from})`);
  return parts.join(', ');
}

function pick<T>(flag: T | undefined, bundle: T | undefined, fallback: ResolvedSetting<T>): ResolvedSetting<T> {
  if (flag !== undefined) return { value: flag, from: 'flag' };
  if (bundle !== undefined) return { value: bundle, from: 'manifest.evaluation' };
  return fallback;
}
