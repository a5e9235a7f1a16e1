import type { BundleManifest, JointManifest } from '../bundle/manifest';
import { InvalidArgumentError } from '../errors';
import type { Face } from '../types';
import { boxIou } from './nms';

/**
 * How large an input the engine feeds the model:
 * - `'bundle'`: the manifest's `input.width` x `input.height`, every frame letterboxed into it;
 * - `'frame'`: a frame larger than that at its own resolution, up to the bundle's `dynamicInput.maxSide`
 *   (small faces keep their pixels; the shared stem and detector cost grows with the area);
 * - a number: as `'frame'`, with the longer side capped at that many pixels;
 * - `'auto'`: `'bundle'` first; when that finds faces too small for the recognizer, a second pass at the
 *   size that brings them to its working width (upscaling a small frame up to {@link AUTO_MAX_UPSCALE}x),
 *   and each face is kept from the pass that saw it best.
 * `'frame'` and a number need a bundle exported with a dynamic input (manifest `dynamicInput`); `'auto'`
 * does what the bundle allows, so on a fixed-size bundle it is `'bundle'` (the device's default works
 * with any bundle).
 */
export type InputSizePolicy = 'bundle' | 'frame' | 'auto' | number;

/**
 * Face widths in the bundle's letterboxed input (px). The joint model embeds best around the width
 * LFW's evaluation canvas gives (~64 px); under `small` it loses identity (docs/BENCHMARKS.md, "Input
 * size"), so 'auto' looks again at the size that brings those faces to `target`.
 */
export const AUTO_WIDTH = { small: 40, target: 72 } as const;

/**
 * How far 'auto' enlarges a frame past its own pixels. Interpolation adds no detail, but the stem's
 * 3x3 kernels were fitted to faces near the working width: a 23-px face of a 640x360 clip matched its
 * enrolled photo at 0.41 at 1x and 0.54 at 2x (docs/BENCHMARKS.md, "Small frames"). 2x is what was
 * measured; the stem's cost grows with the area (4x here).
 */
export const AUTO_MAX_UPSCALE = 2;

/** The model input for one frame: its size, and the scale the frame is drawn at (top left, black padding). */
export interface InputPlacement {
  width: number;
  height: number;
  /** frame pixel -> input pixel; undefined: the bundle's own letterbox. */
  scale?: number;
}

/** A command line's `--input-size` value: 'bundle', 'frame' or a number (checked against the bundle later). */
export function inputSizeArg(value: string): InputSizePolicy {
  return value === 'bundle' || value === 'frame' || value === 'auto' ? value : /^\d+$/.test(value) ? Number(value) : (value as InputSizePolicy);
}

/** Checks a policy against a bundle once, at engine creation. */
export function checkInputSizePolicy(policy: unknown, manifest: BundleManifest): InputSizePolicy {
  if (policy === 'bundle') return policy;
  const dynamic = manifest.kind === 'joint' ? manifest.dynamicInput : undefined;
  if (policy === 'auto' && !dynamic) return 'bundle';
  if (manifest.kind !== 'joint' || !dynamic) {
    const size = manifest.kind === 'joint' ? `${manifest.input.width}x${manifest.input.height}` : 'fixed';
    throw new InvalidArgumentError(
      'options.inputSize',
      `'bundle': ${manifest.name} has a ${size} input (only a joint bundle exported with --max-size, manifest dynamicInput, takes other sizes)`,
      policy,
    );
  }
  const least = Math.max(manifest.input.width, manifest.input.height);
  if (policy !== 'frame' && policy !== 'auto' && !(typeof policy === 'number' && Number.isInteger(policy) && policy >= least && policy <= dynamic.maxSide)) {
    throw new InvalidArgumentError('options.inputSize', `'bundle', 'frame', 'auto' or a longest side in pixels (an integer ${least}..${dynamic.maxSide} for ${manifest.name})`, policy);
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
  if (policy === 'auto') return { width: input.width, height: input.height }; // the first pass
  const cap = policy === 'frame' ? dynamicInput.maxSide : policy;
  return placeAtScale(frame, dynamicInput.multiple, Math.min(1, cap / Math.max(frame.width, frame.height)));
}

/** The frame drawn at `scale` (above 1 enlarges it), padded right and bottom to the graph's multiple. */
function placeAtScale(frame: { width: number; height: number }, multiple: number, scale: number): InputPlacement {
  const padded = (v: number): number => Math.max(multiple, Math.ceil(Math.round(v * scale) / multiple) * multiple);
  return { width: padded(frame.width), height: padded(frame.height), scale };
}

/** 'auto': the second pass a frame needs after the first found `faces` (frame pixels), or undefined when none. */
export function autoSecondPass(frame: { width: number; height: number }, manifest: JointManifest, faces: readonly Face[]): InputPlacement | undefined {
  const { input, dynamicInput } = manifest;
  if (!dynamicInput) return undefined;
  const bundleScale = Math.min(input.width / frame.width, input.height / frame.height);
  const small = faces.map((f) => (f.box[2] - f.box[0]) * bundleScale).filter((w) => w < AUTO_WIDTH.small).sort((a, b) => a - b);
  if (small.length === 0) return undefined;
  const median = small[Math.floor(small.length / 2)]!;
  const frameSide = Math.max(frame.width, frame.height);
  const firstSide = frameSide * bundleScale;
  // Never past AUTO_MAX_UPSCALE x the frame's pixels nor the graph's limit; not worth a pass for less than 1.25x the first.
  const longest = Math.min(dynamicInput.maxSide, frameSide * AUTO_MAX_UPSCALE, Math.round((firstSide * AUTO_WIDTH.target) / median));
  return longest >= firstSide * 1.25 ? placeAtScale(frame, dynamicInput.multiple, longest / frameSide) : undefined;
}

/**
 * 'auto': each face from the pass that saw it best. Faces the bundle-size pass saw at the recognizer's
 * width stay as they are; small ones come from the larger pass, which also adds faces the first missed;
 * a small face the larger pass did not find stays, so nothing found is lost.
 */
export function mergePasses(coarse: readonly Face[], fine: readonly Face[], frame: { width: number; height: number }, manifest: JointManifest): Face[] {
  const { input } = manifest;
  const bundleScale = Math.min(input.width / frame.width, input.height / frame.height);
  const isSmall = (f: Face): boolean => (f.box[2] - f.box[0]) * bundleScale < AUTO_WIDTH.small;
  const large = coarse.filter((f) => !isSmall(f));
  const fineSmall = fine.filter((f) => isSmall(f) && !large.some((g) => boxIou(f.box, g.box) >= 0.3));
  const kept = [...large, ...fineSmall];
  const missed = coarse.filter((f) => isSmall(f) && !kept.some((g) => boxIou(f.box, g.box) >= 0.3));
  return [...kept, ...missed].sort((a, b) => b.score - a.score).slice(0, manifest.maxFaces);
}
