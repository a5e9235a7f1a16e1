import { AbsHistogram } from '../toolchain/quantize/histogram';
import { toHalfBits } from '../toolchain/quantize/fp16';
import { tensorRtCalibrationTable } from '../toolchain/quantize/tensorrt-table';
import type { Calibration } from '../toolchain/quantize/calibrate';

/** A deterministic normal sample (Box–Muller over a fixed LCG). */
function normals(n: number, seed = 1): Float32Array {
  let s = seed;
  const u = () => ((s = (s * 1664525 + 1013904223) >>> 0) + 1) / 4294967297;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

describe('calibration histogram', () => {
  test('growing the range keeps every count and the percentile of a uniform sample', () => {
    const h = new AbsHistogram(1024);
    h.add(Float32Array.from({ length: 1000 }, (_, i) => i / 1000)); // [0, 1)
    h.add(Float32Array.from({ length: 1000 }, (_, i) => -(3 * i) / 1000)); // (-3, 0]: range grows
    expect(h.bins.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(h.min).toBeCloseTo(-2.997, 6);
    expect(h.max).toBeCloseTo(0.999, 6);
    // 1000 values in [0,1) and ~333 of the negatives have |x| < 1: the 66.65th percentile is |x| ≈ 1.
    expect(h.percentile(66.65)).toBeGreaterThan(0.95);
    expect(h.percentile(66.65)).toBeLessThan(1.05);
    expect(h.percentile(100)).toBeGreaterThanOrEqual(2.99);
  });

  test('entropy clips far outliers of a normal distribution but keeps its bulk', () => {
    const h = new AbsHistogram();
    const x = normals(50_000);
    x[0] = 40; // one outlier sets the range
    h.add(x);
    const t = h.entropyThreshold();
    expect(t).toBeLessThan(10);
    expect(t).toBeGreaterThan(2.5);
    expect(h.percentile(99.99)).toBeLessThan(6);
  });
});

describe('float16 conversion', () => {
  test.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [1e6, 0x7c00],
    [0.5 + 2 ** -12, 0x3800], // halfway between two halves: rounds to even
    [2 ** -24, 0x0001], // smallest subnormal
    [1e-9, 0x0000],
    [0.333333, 0x3555],
  ])('%p -> 0x%s', (value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
  });
});

describe('TensorRT calibration table', () => {
  test('one line per tensor with the scale amax/127 as big-endian float32 hex', () => {
    const calibration: Calibration = {
      format: 'jetface-calibration',
      version: 1,
      method: 'minmax',
      images: [],
      modelSha256: '0'.repeat(64),
      tensors: { input: { min: -1, max: 1, amax: 1.27 }, 'conv/out': { min: 0, max: 6, amax: 6 } },
    };
    const lines = tensorRtCalibrationTable(calibration).trim().split('\n');
    expect(lines[0]).toMatch(/^TRT-\d+-EntropyCalibration2$/);
    expect(lines).toHaveLength(3);
    const [name, hex] = lines[1]!.split(': ');
    expect(name).toBe('input');
    const view = new DataView(new ArrayBuffer(4));
    view.setUint32(0, parseInt(hex!, 16));
    expect(view.getFloat32(0)).toBeCloseTo(0.01, 7);
    expect(lines[2]).toMatch(/^conv\/out: [0-9a-f]{8}$/);
  });
});
