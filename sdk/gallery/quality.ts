/**
 * Enrollment quality gates: pure functions over the engine's faces and the frame's pixels that
 * decide whether a photo is good enough to enroll, and say why not. A template enrolled from a
 * blurred, turned or tiny face matches strangers and misses the person, so enrollment is stricter
 * than recognition.
 */
import { InvalidArgumentError } from '../errors';
import type { Box, Face, Frame, Landmarks } from '../types';

/** Why a face was refused for enrollment. */
export type QualityRefusalCode =
  | 'no_face'
  | 'multiple_faces'
  | 'face_too_small'
  | 'low_score'
  | 'blurry'
  | 'pose_yaw'
  | 'pose_pitch'
  | 'pose_roll'
  | 'no_embedding';

/** One failed gate: its code, a human message with the measured value and the limit. */
export interface QualityRefusal {
  code: QualityRefusalCode;
  message: string;
  measured: number;
  limit: number;
}

/** The limits of the gates. */
export interface QualityLimits {
  /** Least side of the face box, in frame pixels (default 64). */
  minFaceSize: number;
  /** Least detection score (default 0.4, the default bundle's detection threshold). */
  minScore: number;
  /** Least sharpness: variance of the Laplacian of the face's grey crop resampled to 96×96 (default 60). */
  minSharpness: number;
  /** Largest |yaw|, |pitch|, |roll| in degrees, estimated from the 5 landmarks (defaults 35, 30, 25). */
  maxYaw: number;
  maxPitch: number;
  maxRoll: number;
  /**
   * Another face counts as a second person when its box side is at least this fraction of the
   * largest face's (default 0.4); smaller ones (people far behind) are ignored and counted.
   */
  extraFaceRatio: number;
}

/**
 * Defaults that pass good enrollment photos (the BBT crops, LFW portraits) and refuse blurred,
 * turned, tiny or shared photos; see docs/gallery.md "Enrollment".
 *
 * @example
 * ```ts
 * const strict = { ...DEFAULT_QUALITY_LIMITS, maxYaw: 20 };
 * ```
 */
export const DEFAULT_QUALITY_LIMITS: Readonly<QualityLimits> = Object.freeze({
  minFaceSize: 64,
  minScore: 0.4,
  minSharpness: 60,
  maxYaw: 35,
  maxPitch: 30,
  maxRoll: 25,
  extraFaceRatio: 0.4,
});

/** Head pose in degrees: yaw (turn, + toward the viewer's right), pitch (+ chin down), roll (+ clockwise in the image). */
export interface FacePose {
  yaw: number;
  pitch: number;
  roll: number;
}

/** What the gates measured on the chosen face. */
export interface FaceQualityMeasures {
  /** Shorter side of the box, pixels. */
  size: number;
  score: number;
  sharpness: number;
  pose: FacePose;
}

/** The verdict on one image: the face to enroll, or the refusals (every failed gate, the first is the main reason). */
export type QualityVerdict =
  | { ok: true; face: Face; measures: FaceQualityMeasures; ignoredFaces: number }
  | { ok: false; refusals: QualityRefusal[]; face: Face | null; measures: FaceQualityMeasures | null; ignoredFaces: number };

/**
 * Checks limits where they enter: every field a finite number in its range; unknown keys refused.
 *
 * @example
 * ```ts
 * const limits = resolveQualityLimits({ minFaceSize: 80 }); // the rest default
 * ```
 */
export function resolveQualityLimits(partial: Partial<QualityLimits> = {}, field = 'quality'): QualityLimits {
  if (partial === null || typeof partial !== 'object') throw new InvalidArgumentError(field, 'an object of quality limits', partial);
  const ranges: Record<keyof QualityLimits, [number, number]> = {
    minFaceSize: [0, 16384],
    minScore: [0, 1],
    minSharpness: [0, 1e6],
    maxYaw: [0, 90],
    maxPitch: [0, 90],
    maxRoll: [0, 180],
    extraFaceRatio: [0, 1],
  };
  for (const key of Object.keys(partial)) {
    if (!Object.hasOwn(ranges, key)) throw new InvalidArgumentError(`${field}.${key}`, `one of ${Object.keys(ranges).join(', ')}`, key);
  }
  const out = { ...DEFAULT_QUALITY_LIMITS };
  for (const [key, [lo, hi]] of Object.entries(ranges) as [keyof QualityLimits, [number, number]][]) {
    const value = partial[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) throw new InvalidArgumentError(`${field}.${key}`, `a number in ${lo}..${hi}`, value);
    out[key] = value;
  }
  return out;
}

/**
 * Head pose from the 5 landmarks (rough, for gating, not measurement). Roll is the angle of the
 * eye line. In the roll-corrected face, yaw comes from the nose tip's offset from the eyes'
 * midpoint relative to the eye distance (the nose sits about 0.45 eye-distances in front of the
 * eyes), pitch from where the nose falls between the eye line and the mouth line (0.58 of the
 * way when frontal).
 *
 * @example
 * ```ts
 * const { yaw, pitch, roll } = estimatePose(face.landmarks);
 * ```
 */
export function estimatePose(landmarks: Landmarks): FacePose {
  const [eyeA, eyeB, nose, mouthA, mouthB] = landmarks;
  const roll = Math.atan2(eyeB[1] - eyeA[1], eyeB[0] - eyeA[0]);
  const cos = Math.cos(-roll);
  const sin = Math.sin(-roll);
  const turn = ([x, y]: readonly number[]): [number, number] => [x! * cos - y! * sin, x! * sin + y! * cos];
  const [ax, ay] = turn(eyeA);
  const [bx, by] = turn(eyeB);
  const [nx, ny] = turn(nose);
  const [, may] = turn(mouthA);
  const [, mby] = turn(mouthB);
  const eyeDist = Math.max(1e-6, Math.hypot(bx - ax, by - ay));
  const eyeY = (ay + by) / 2;
  const mouthY = (may + mby) / 2;
  const yaw = Math.atan((nx - (ax + bx) / 2) / eyeDist / 0.45);
  const span = mouthY - eyeY;
  const t = Math.abs(span) < 1e-6 ? FRONTAL_NOSE_T : (ny - eyeY) / span;
  // t → 0 head tilted back (chin up), t → 1 chin down; ±0.5 from frontal maps to about ±60°.
  const pitch = Math.atan((t - FRONTAL_NOSE_T) * 2 * Math.tan((60 * Math.PI) / 180));
  const deg = 180 / Math.PI;
  return { yaw: yaw * deg, pitch: pitch * deg, roll: roll * deg };
}

/** Where the nose tip falls between the eye line (0) and the mouth line (1) in frontal faces, as YuNet and jetface-s place landmarks. */
const FRONTAL_NOSE_T = 0.58;

/** Side of the square grey crop the sharpness is measured on, so that faces of any size compare. */
export const SHARPNESS_CROP = 96;

/**
 * Sharpness of the face: variance of the 4-neighbour Laplacian of its grey crop, bilinearly
 * resampled to {@link SHARPNESS_CROP}² pixels. Sharp faces give hundreds, blurred ones tens.
 *
 * @example
 * ```ts
 * faceSharpness(frame, face.box); // e.g. 240
 * ```
 */
export function faceSharpness(frame: Frame, box: Box): number {
  const x1 = clamp(box[0], 0, frame.width - 1);
  const y1 = clamp(box[1], 0, frame.height - 1);
  const x2 = clamp(box[2], x1 + 1, frame.width);
  const y2 = clamp(box[3], y1 + 1, frame.height);
  const n = SHARPNESS_CROP;
  const grey = new Float32Array(n * n);
  const [wr, wb] = frame.format === 'rgb24' ? [0.299, 0.114] : [0.114, 0.299];
  const at = (x: number, y: number): number => {
    const i = (y * frame.width + x) * 3;
    return wr * frame.data[i]! + 0.587 * frame.data[i + 1]! + wb * frame.data[i + 2]!;
  };
  const sx = (x2 - x1) / n;
  const sy = (y2 - y1) / n;
  for (let j = 0; j < n; j++) {
    const fy = clamp(y1 + (j + 0.5) * sy - 0.5, 0, frame.height - 1);
    const y0 = Math.floor(fy);
    const yb = Math.min(y0 + 1, frame.height - 1);
    const dy = fy - y0;
    for (let i = 0; i < n; i++) {
      const fx = clamp(x1 + (i + 0.5) * sx - 0.5, 0, frame.width - 1);
      const x0 = Math.floor(fx);
      const xb = Math.min(x0 + 1, frame.width - 1);
      const dx = fx - x0;
      const top = at(x0, y0) * (1 - dx) + at(xb, y0) * dx;
      const bottom = at(x0, yb) * (1 - dx) + at(xb, yb) * dx;
      grey[j * n + i] = top * (1 - dy) + bottom * dy;
    }
  }
  let sum = 0;
  let sumSq = 0;
  let count = 0;
  for (let y = 1; y < n - 1; y++) {
    for (let x = 1; x < n - 1; x++) {
      const k = y * n + x;
      const lap = grey[k - 1]! + grey[k + 1]! + grey[k - n]! + grey[k + n]! - 4 * grey[k]!;
      sum += lap;
      sumSq += lap * lap;
      count++;
    }
  }
  const mean = sum / count;
  return sumSq / count - mean * mean;
}

/**
 * Runs every gate over one image's faces: exactly one face (others smaller than
 * `extraFaceRatio` of it are ignored), size, score, sharpness, pose, an embedding.
 *
 * @example
 * ```ts
 * const verdict = checkFaceQuality(frame, await engine.detect(frame));
 * if (!verdict.ok) for (const r of verdict.refusals) console.warn(r.code, r.message);
 * ```
 */
export function checkFaceQuality(frame: Frame, faces: readonly Face[], limits: Partial<QualityLimits> = {}): QualityVerdict {
  const l = resolveQualityLimits(limits);
  if (faces.length === 0) {
    return { ok: false, refusals: [{ code: 'no_face', message: 'no face found', measured: 0, limit: 1 }], face: null, measures: null, ignoredFaces: 0 };
  }
  const face = faces.reduce((a, b) => (side(b.box) > side(a.box) ? b : a));
  const main = side(face.box);
  const others = faces.filter((f) => f !== face);
  const rivals = others.filter((f) => side(f.box) >= l.extraFaceRatio * main);
  const measures: FaceQualityMeasures = { size: main, score: face.score, sharpness: faceSharpness(frame, face.box), pose: estimatePose(face.landmarks) };
  const refusals: QualityRefusal[] = [];
  const r1 = (v: number): number => Math.round(v * 10) / 10;
  if (rivals.length > 0) {
    const ratio = Math.max(...rivals.map((f) => side(f.box) / main));
    refusals.push({ code: 'multiple_faces', message: `${rivals.length + 1} faces: another face is ${r1(ratio * 100)}% of the largest one's size (at most ${r1(l.extraFaceRatio * 100)}% is ignored)`, measured: rivals.length + 1, limit: 1 });
  }
  if (main < l.minFaceSize) refusals.push({ code: 'face_too_small', message: `face is ${Math.round(main)} px, at least ${l.minFaceSize} px needed`, measured: main, limit: l.minFaceSize });
  if (face.score < l.minScore) refusals.push({ code: 'low_score', message: `detection score ${face.score.toFixed(3)} is below ${l.minScore}`, measured: face.score, limit: l.minScore });
  if (measures.sharpness < l.minSharpness) refusals.push({ code: 'blurry', message: `sharpness ${r1(measures.sharpness)} is below ${l.minSharpness} (variance of the Laplacian)`, measured: measures.sharpness, limit: l.minSharpness });
  const { yaw, pitch, roll } = measures.pose;
  if (Math.abs(yaw) > l.maxYaw) refusals.push({ code: 'pose_yaw', message: `head turned ${r1(yaw)}°, at most ±${l.maxYaw}°`, measured: yaw, limit: l.maxYaw });
  if (Math.abs(pitch) > l.maxPitch) refusals.push({ code: 'pose_pitch', message: `head tilted ${r1(pitch)}° up/down, at most ±${l.maxPitch}°`, measured: pitch, limit: l.maxPitch });
  if (Math.abs(roll) > l.maxRoll) refusals.push({ code: 'pose_roll', message: `head rolled ${r1(roll)}°, at most ±${l.maxRoll}°`, measured: roll, limit: l.maxRoll });
  if (face.embedding.length === 0) refusals.push({ code: 'no_embedding', message: 'the engine gave no embedding for the face', measured: 0, limit: 1 });
  const ignoredFaces = others.length - rivals.length;
  return refusals.length === 0 ? { ok: true, face, measures, ignoredFaces } : { ok: false, refusals, face, measures, ignoredFaces };
}

function side(box: Box): number {
  return Math.max(0, Math.min(box[2] - box[0], box[3] - box[1]));
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
