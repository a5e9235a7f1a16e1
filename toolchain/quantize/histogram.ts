/**
 * A histogram of |x| over a growing range, for the Percentile and Entropy calibrators. When a
 * value beyond the range arrives, the range doubles and neighbouring bins merge pairwise, so
 * no earlier value has to be kept or re-read.
 */
export class AbsHistogram {
  readonly bins: Float64Array;
  private width = 0;
  min = Infinity;
  max = -Infinity;

  constructor(binCount = 2048) {
    this.bins = new Float64Array(binCount);
  }

  get range(): number {
    return this.width * this.bins.length;
  }

  add(values: Float32Array): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    const amax = Math.max(Math.abs(lo), Math.abs(hi));
    if (this.width === 0) this.width = Math.max(amax, 1e-12) / this.bins.length;
    while (amax > this.range) this.doubleRange();
    const n = this.bins.length;
    const inv = 1 / this.width;
    // Plain arithmetic, no Math.* call per value: inside a vm context (jest's sandbox) every
    // global lookup in this loop goes through the context's interceptor, 40x slower.
    const bins = this.bins;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const b = ((v < 0 ? -v : v) * inv) | 0; // |v|·inv ≤ n here, so |0 is floor
      bins[b < n ? b : n - 1]! += 1;
    }
  }

  private doubleRange(): void {
    const n = this.bins.length;
    for (let i = 0; i < n / 2; i++) this.bins[i] = this.bins[2 * i]! + this.bins[2 * i + 1]!;
    this.bins.fill(0, n / 2);
    this.width *= 2;
  }

  /** The smallest |x| threshold below which `percent` of the values lie (upper edge of its bin). */
  percentile(percent: number): number {
    const total = this.bins.reduce((a, b) => a + b, 0);
    const target = (total * percent) / 100;
    let acc = 0;
    for (let i = 0; i < this.bins.length; i++) {
      acc += this.bins[i]!;
      if (acc >= target) return (i + 1) * this.width;
    }
    return this.range;
  }

  /**
   * TensorRT's entropy calibration: the threshold whose 128-level quantization of the
   * distribution (values beyond it clamped into the last bin) loses the least information,
   * measured as KL(P || Q).
   */
  entropyThreshold(levels = 128): number {
    const n = this.bins.length;
    // Exact zeros (everything a Relu cut) say nothing about where to clip, and their spike,
    // smeared by the merge into 128 levels, would otherwise push the threshold far too low.
    const hist = this.bins.slice();
    hist[0] = 0;
    let best = n;
    let bestKl = Infinity;
    for (let i = levels; i <= n; i++) {
      const kl = klForThreshold(hist, i, levels);
      if (kl < bestKl) {
        bestKl = kl;
        best = i;
      }
    }
    return best * this.width;
  }
}

function klForThreshold(hist: Float64Array, i: number, levels: number): number {
  const p = hist.slice(0, i);
  let outliers = 0;
  for (let k = i; k < hist.length; k++) outliers += hist[k]!;
  p[i - 1]! += outliers;
  const q = new Float64Array(i);
  const merged = i / levels;
  for (let j = 0; j < levels; j++) {
    const start = Math.floor(j * merged);
    const end = j === levels - 1 ? i : Math.floor((j + 1) * merged);
    let sum = 0;
    let nonzero = 0;
    for (let k = start; k < end; k++) {
      sum += hist[k]!;
      if (hist[k]! > 0) nonzero++;
    }
    if (nonzero === 0) continue;
    for (let k = start; k < end; k++) if (hist[k]! > 0) q[k] = sum / nonzero;
  }
  let pSum = 0;
  let qSum = 0;
  for (let k = 0; k < i; k++) {
    pSum += p[k]!;
    qSum += q[k]!;
  }
  if (pSum === 0 || qSum === 0) return Infinity;
  let kl = 0;
  for (let k = 0; k < i; k++) {
    const pk = p[k]! / pSum;
    if (pk === 0) continue;
    // The last bin gains the outliers while q does not: a small floor keeps KL finite there.
    const qk = Math.max(q[k]! / qSum, 1e-12);
    kl += pk * Math.log(pk / qk);
  }
  return kl;
}
