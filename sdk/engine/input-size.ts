import type { BundleManifest } from '../bundle/manifest';
import { InvalidArgumentError } from '../errors';

/**
 * How large an input the engine feeds the model:
 * - `'bundle'`: the manifest's `input.width` x `input.height`, every frame letterboxed into it;
 * - `'frame'`: a frame larger than that at its own resolution, up to the bundle's `dynamicInput.maxSide`
 *   (small faces keep their pixels; the shared stem and detector cost grows with the area);
 * - a number: as `'frame'`, with the longer side capped at that many pixels.
 * `'frame'` and numbers need a bundle exported with a dynamic input (manifest `dynamicInput`).
 */
export type InputSizePolicy = 'bundle' | 'frame' | number;

/** The model input for one frame: its size, and the scale the frame is drawn at (top left, black padding). */
export interface InputPlacement {
  width: number;
  height: number;
  /** frame pixel -> input pixel; undefined: the bundle's own letterbox. */
  scale?: number;
}

/** A command line's `--input-size` value: 'bundle', 'frame' or a number (checked against the bundle later). */
export function inputSizeArg(value: string): InputSizePolicy {
  return value === 'bundle' || value === 'frame' ? value : /^\d+$/.test(value) ? Number(value) : (value as InputSizePolicy);
}

/** Checks a policy against a bundle once, at engine creation. */
export function checkInputSizePolicy(policy: unknown, manifest: BundleManifest): InputSizePolicy {
  if (policy === 'bundle') return policy;
  const dynamic = manifest.kind === 'joint' ? manifest.dynamicInput : undefined;
  if (manifest.kind !== 'joint' || !dynamic) {
    const size = manifest.kind === 'joint' ? `${manifest.input.width}x${manifest.input.height}` : 'fixed';
    throw new InvalidArgumentError(
      'options.inputSize',
      `'bundle': ${manifest.name} has a ${size} input (only a joint bundle exported with --max-size, manifest dynamicInput, takes other sizes)`,
      policy,
    );
  }
  const least = Math.max(manifest.input.width, manifest.input.height);
  if (policy !== 'frame' && !(typeof policy === 'number' && Number.isInteger(policy) && policy >= least && policy <= dynamic.maxSide)) {
    throw new InvalidArgumentError('options.inputSize', `'bundle', 'frame' or a longest side in pixels (an integer ${least}..${dynamic.maxSide} for ${manifest.name})`, policy);
  }
  return policy;
}

/**
 * The input a frame gets under `policy`. A frame that fits inside the bundle's size gets the bundle's
 * letterbox, as with `'bundle'`; a larger one is scaled down only as far as the cap needs, then
 * padded right and bottom to the graph's multiple.
 */
export function placeFrame(frame: { width: number; height: number }, manifest: BundleManifest, policy: InputSizePolicy): InputPlacement {
  if (manifest.kind !== 'joint') throw new InvalidArgumentError('bundle', 'a joint bundle', manifest.kind);
  const { input, dynamicInput } = manifest;
  if (!dynamicInput || policy === 'bundle' || (frame.width <= input.width && frame.height <= input.height)) {
    return { width: input.width, height: input.height };
  }
  const cap = policy === 'frame' ? dynamicInput.maxSide : policy;
  const scale = Math.min(1, cap / Math.max(frame.width, frame.height));
  const m = dynamicInput.multiple;
  const padded = (v: number): number => Math.max(m, Math.ceil(Math.round(v * scale) / m) * m);
  return { width: padded(frame.width), height: padded(frame.height), scale };
}
