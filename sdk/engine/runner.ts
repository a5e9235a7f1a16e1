import type { Face, Frame } from '../types';
import type { ExecutionProviderName, ProviderAttempt } from './providers';

/** Milliseconds spent in each stage of one detect() call, measured inside the worker. */
export type StageTimings = Record<string, number>;

export interface DetectOutput {
  faces: Face[];
  timings: StageTimings;
}

/** Runs one kind of bundle (joint or cascade) inside the inference worker. */
export interface FaceRunner {
  readonly provider: ExecutionProviderName;
  readonly attempts: ProviderAttempt[];
  detect(frame: Frame, minScore: number): Promise<DetectOutput>;
  /** Runs every model once on a blank input so the first real frame pays no first-run costs. */
  warmup(): Promise<void>;
  close(): Promise<void>;
}


export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** A mid-grey frame of the given size, for warm-up runs. */
export function blankFrame(width: number, height: number): Frame {
  return { data: new Uint8Array(width * height * 3).fill(128), width, height, format: 'rgb24', timestamp: 0, sequence: 0, cameraId: 'warmup' };
}
