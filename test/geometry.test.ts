import sharp from 'sharp';
import { ARCFACE_112_TEMPLATE, alignedFaceTensor, estimateSimilarity, l2Normalize } from '../sdk/engine/align';
import { boxIou, nonMaxSuppression } from '../sdk/engine/nms';
import { resizeForModel, toFrameCoordinates, toInputTensor } from '../sdk/engine/preprocess';
import { decodeYunet } from '../sdk/engine/yunet';
import { placeOnCanvas } from '../sdk/eval/canvas';
import type { TensorInputSpec } from '../sdk/bundle/manifest';
import type { Box, Frame, Landmarks, Point } from '../sdk/types';

function frameOf(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Frame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  return { data, width, height, format: 'rgb24', timestamp: 0, sequence: 0, cameraId: 't' };
}

const spec = (o: Partial<TensorInputSpec>): TensorInputSpec => ({
  name: 'x', width: 4, height: 2, layout: 'nchw', dtype: 'float32', colorOrder: 'rgb', mean: [0, 0, 0], std: [1, 1, 1], resize: 'letterbox', ...o,
});

describe('estimateSimilarity', () => {
  test('recovers a known rotation, scale and shift exactly', () => {
    const angle = 0.3, scale = 1.7, tx = 12, ty = -5;
    const a = scale * Math.cos(angle), b = scale * Math.sin(angle);
    const src: Point[] = [[10, 20], [40, 22], [25, 35], [12, 50], [38, 52]];
    const dst = src.map(([x, y]) => [a * x - b * y + tx, b * x + a * y + ty] as Point);
    const m = estimateSimilarity(src, dst);
    expect(m.a).toBeCloseTo(a, 9);
    expect(m.b).toBeCloseTo(b, 9);
    expect(m.tx).toBeCloseTo(tx, 9);
    expect(m.ty).toBeCloseTo(ty, 9);
  });
});

describe('alignedFaceTensor', () => {
  test('landmarks already on the template give back the pixels themselves, and mirror flips them', () => {
    const frame = frameOf(112, 112, (x, y) => [x, y, (x + y) & 255]);
    const s = spec({ width: 112, height: 112, resize: 'stretch' });
    const out = alignedFaceTensor(frame, ARCFACE_112_TEMPLATE.map((p) => [...p]) as Landmarks, s, false);
    const plane = 112 * 112;
    expect(out[10 * 112 + 30]).toBeCloseTo(30, 3); // R channel = x
    expect(out[plane + 10 * 112 + 30]).toBeCloseTo(10, 3); // G channel = y
    const mirrored = alignedFaceTensor(frame, ARCFACE_112_TEMPLATE.map((p) => [...p]) as Landmarks, s, true);
    expect(mirrored[10 * 112 + 30]).toBeCloseTo(111 - 30, 3);
  });

  test('a face at twice the size is sampled back onto the template', () => {
    const frame = frameOf(300, 300, (x, y) => [Math.min(255, x), Math.min(255, y), 0]);
    const lm = ARCFACE_112_TEMPLATE.map(([x, y]) => [2 * x + 20, 2 * y + 30]) as Landmarks;
    const out = alignedFaceTensor(frame, lm, spec({ width: 112, height: 112, mean: [127.5, 127.5, 127.5], std: [128, 128, 128] }), false);
    // Output pixel (50, 60) comes from frame (2*50+20, 2*60+30) = (120, 150).
    expect(out[60 * 112 + 50]! * 128 + 127.5).toBeCloseTo(120, 3);
    expect(out[112 * 112 + 60 * 112 + 50]! * 128 + 127.5).toBeCloseTo(150, 3);
  });
});

describe('nonMaxSuppression', () => {
  test('keeps the best of overlapping boxes and every separate one, best first, up to the limit', () => {
    const boxes: Box[] = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]];
    const scores = [0.8, 0.9, 0.7, 0.1];
    expect(nonMaxSuppression(boxes, scores, 0.5, 10)).toEqual([1, 2]);
    expect(nonMaxSuppression(boxes, scores, 0.5, 1)).toEqual([1]);
    expect(nonMaxSuppression(boxes, scores, 0.99, 10)).toEqual([1, 0, 2, 3]);
  });

  test('boxIou', () => {
    expect(boxIou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(1 / 3, 9);
    expect(boxIou([0, 0, 10, 10], [20, 20, 30, 30])).toBe(0);
  });
});

describe('decodeYunet', () => {
  test('decodes one confident cell of stride 8 to its box and landmarks', () => {
    const cols = 4, rows = 4, cells = cols * rows;
    const cls = new Float32Array(cells), obj = new Float32Array(cells);
    const bbox = new Float32Array(cells * 4), kps = new Float32Array(cells * 10);
    const idx = 1 * cols + 2; // row 1, col 2
    cls[idx] = 0.81; obj[idx] = 1;
    bbox.set([0.5, 0.25, Math.log(2), Math.log(3)], idx * 4);
    kps.set([0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1], idx * 10);
    const [c, ...rest] = decodeYunet([{ stride: 8, cls, obj, bbox, kps }], 32, 32, 0.5);
    expect(rest).toHaveLength(0);
    expect(c!.score).toBeCloseTo(0.9, 6);
    // centre ((2 + 0.5) * 8, (1 + 0.25) * 8) = (20, 10); size (16, 24)
    expect(c!.box.map((v) => Math.round(v * 1000) / 1000)).toEqual([12, -2, 28, 22]);
    expect(c!.landmarks[0]).toEqual([16, 8]);
    expect(c!.landmarks[4]).toEqual([24, 16]);
    expect(decodeYunet([{ stride: 8, cls, obj, bbox, kps }], 32, 32, 0.95)).toHaveLength(0);
  });
});

describe('preprocessing', () => {
  test('toInputTensor swaps channels, normalizes and lays out NCHW / NHWC', () => {
    const px = new Uint8Array([10, 20, 30, 40, 50, 60]); // two RGB pixels, 2x1
    const nchw = toInputTensor(px, 2, 1, 'rgb24', spec({ width: 2, height: 1, colorOrder: 'bgr', mean: [10, 0, 0], std: [2, 1, 1] }));
    expect(nchw.dims).toEqual([1, 3, 1, 2]);
    expect(Array.from(nchw.data)).toEqual([(30 - 10) / 2, (60 - 10) / 2, 20, 50, 10, 40]);
    const nhwc = toInputTensor(px, 2, 1, 'bgr24', spec({ width: 2, height: 1, layout: 'nhwc', dtype: 'uint8' }));
    expect(nhwc.dims).toEqual([1, 1, 2, 3]);
    expect(Array.from(nhwc.data)).toEqual([30, 20, 10, 60, 50, 40]);
    expect(toInputTensor(px, 2, 1, 'rgb24', spec({ layout: 'nhwc', dtype: 'uint8' })).data).toBe(px); // no copy when nothing changes
  });

  test('letterbox keeps the aspect ratio, pads right and bottom, and maps back to frame pixels', async () => {
    const frame = frameOf(200, 100, () => [200, 100, 50]);
    const r = await resizeForModel(frame, 64, 64, 'letterbox');
    expect([r.width, r.height, r.pixels.length]).toEqual([64, 64, 64 * 64 * 3]);
    expect(r.scaleX).toBeCloseTo(0.32, 6);
    expect(r.scaleY).toBeCloseTo(0.32, 6);
    expect(Array.from(r.pixels.subarray(0, 3))).toEqual([200, 100, 50]); // top-left is image
    expect(Array.from(r.pixels.subarray((63 * 64 + 10) * 3, (63 * 64 + 10) * 3 + 3))).toEqual([0, 0, 0]); // bottom row is padding
    const back = toFrameCoordinates({ box: [32, 16, 64, 40], score: 1, landmarks: [[32, 16], [0, 0], [0, 0], [0, 0], [0, 0]] }, r.scaleX, r.scaleY, frame);
    expect(back.box).toEqual([100, 50, 200, 100]); // clipped to the frame
    expect(back.landmarks[0]).toEqual([100, 50]);
  });

  test('a frame already at the letterbox size (one side equal, the other shorter) is only padded: the same pixels as a resample', async () => {
    for (const [w, h] of [[64, 36], [30, 64]] as const) {
      const frame = frameOf(w, h, (x, y) => [(x * 7 + y) % 256, (y * 13) % 256, (x * y) % 256]);
      const padded = await resizeForModel(frame, 64, 64, 'letterbox');
      const resampled = await sharp(frame.data, { raw: { width: w, height: h, channels: 3 } })
        .resize(w, h, { fit: 'fill', kernel: 'linear' })
        .extend({ right: 64 - w, bottom: 64 - h, background: { r: 0, g: 0, b: 0 } })
        .raw()
        .toBuffer();
      expect(Buffer.from(padded.pixels).equals(resampled)).toBe(true);
      expect([padded.scaleX, padded.scaleY]).toEqual([1, 1]);
    }
  });
});

describe('placeOnCanvas', () => {
  const crop = frameOf(2, 2, (x, y) => [x * 100 + 1, y * 100 + 1, 7]);
  test('grey fill centres the crop on grey', () => {
    const c = placeOnCanvas(crop, 4, 'grey');
    expect(Array.from(c.data.subarray(0, 3))).toEqual([128, 128, 128]);
    expect(Array.from(c.data.subarray((1 * 4 + 1) * 3, (1 * 4 + 1) * 3 + 3))).toEqual([1, 1, 7]);
  });
  test('edge fill repeats the nearest crop pixel', () => {
    const c = placeOnCanvas(crop, 4, 'edge');
    expect(Array.from(c.data.subarray(0, 3))).toEqual([1, 1, 7]);
    expect(Array.from(c.data.subarray((3 * 4 + 3) * 3, (3 * 4 + 3) * 3 + 3))).toEqual([101, 101, 7]);
  });
  test('refuses a canvas smaller than the crop', () => {
    expect(() => placeOnCanvas(crop, 1, 'grey')).toThrow(/canvas size/);
  });
});

test('l2Normalize', () => {
  expect(Array.from(l2Normalize(new Float32Array([3, 4])))).toEqual([0.6000000238418579, 0.800000011920929]);
  expect(Array.from(l2Normalize(new Float32Array([0, 0])))).toEqual([0, 0]);
});
