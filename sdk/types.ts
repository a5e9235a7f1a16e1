/** Pixel layouts a frame may carry. */
export type PixelFormat = 'rgb24' | 'bgr24';

/**
 * One camera frame: tightly packed 8-bit pixels, 3 channels, row-major.
 *
 * @example
 * ```ts
 * const frame: Frame = { data, width: 640, height: 480, format: 'rgb24', timestamp: Date.now(), sequence: 0, cameraId: 'door' };
 * ```
 */
export interface Frame {
  data: Uint8Array;
  width: number;
  height: number;
  format: PixelFormat;
  /** Milliseconds since the epoch when the frame was captured. */
  timestamp: number;
  sequence: number;
  cameraId: string;
}

/** A point in frame pixels. */
export type Point = [x: number, y: number];

/** Box corners in frame pixels: x1, y1, x2, y2. */
export type Box = [x1: number, y1: number, x2: number, y2: number];

/** Five facial landmarks: right eye, left eye, nose tip, right mouth corner, left mouth corner (from the viewer: left eye first). */
export type Landmarks = [Point, Point, Point, Point, Point];

/**
 * A face found in a frame, in the frame's own pixel coordinates.
 * `embedding` is L2-normalized, so the dot product of two embeddings is their cosine similarity.
 */
export interface Face {
  box: Box;
  score: number;
  landmarks: Landmarks;
  embedding: Float32Array;
}

/** A face without its embedding (what `jetface detect` prints). */
export type DetectedFace = Omit<Face, 'embedding'>;
