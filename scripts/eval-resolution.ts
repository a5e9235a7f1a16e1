/**
 * What feeding large frames at their own resolution buys (issue 14, item 5). For every photo of
 * ../shared/data/scenes larger than the bundle's input, runs the reference cascade (it detects at
 * 640 but embeds each face from the frame's own pixels) and the joint bundle at `inputSize:
 * 'bundle'` and at each other size given, then prints per size: faces found, how many of the
 * cascade's faces it found (IoU ≥ 0.5), the cosine of its embedding to the cascade's for those
 * faces (mean, and the share under 0.5, where names start to fail), and the time per frame (median of
 * `--runs`; the median over frames and the sum over all of them).
 * Sizes are compared in one process, on the same frames.
 *
 *   npm run -s eval:resolution [-- --bundle DIR --sizes frame,auto,960 --runs 3]
 *
 * The bundle must be exported with a dynamic input (export_v3.py --max-size; manifest dynamicInput).
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine } from '../sdk/engine/face-engine';
import { inputSizeArg, type InputSizePolicy } from '../sdk/engine/input-size';
import { boxIou } from '../sdk/engine/nms';
import { loadImageFrame } from '../sdk/image/decode';
import type { Face, Frame } from '../sdk/types';
import { writeCascadeBundle } from '../toolchain/bundle/cascade';

const DATA = resolve(__dirname, '../../shared/data');
const { values } = parseArgs({
  options: {
    bundle: { type: 'string', default: resolve(__dirname, '../models/jetface-s') },
    sizes: { type: 'string', default: 'frame,auto' },
    runs: { type: 'string', default: '3' },
  },
});

/** Face widths in the bundle's letterboxed input (px): where 'bundle' loses pixels and where it has plenty. */
const SIZE_BUCKETS = [
  { name: 'under_24', below: 24 },
  { name: '24_48', below: 48 },
  { name: '48_96', below: 96 },
  { name: '96_up', below: Infinity },
];

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function dot(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += a[i]! * b[i]!;
  return d;
}

async function detectAll(engine: FaceEngine, frames: Frame[], runs: number): Promise<{ faces: Face[][]; ms: number[] }> {
  const faces: Face[][] = [];
  const ms: number[] = [];
  for (const frame of frames) {
    const times: number[] = [];
    let found: Face[] = [];
    for (let r = 0; r < runs; r++) {
      const t = process.hrtime.bigint();
      found = await engine.detect(frame);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    faces.push(found);
    ms.push(median(times));
  }
  return { faces, ms };
}

async function main(): Promise<void> {
  if (!existsSync(join(DATA, 'models', 'yunet_s_640_640.onnx'))) {
    console.log(JSON.stringify({ skipped: '../shared/data/models is absent' }));
    return;
  }
  const runs = Number(values.runs);
  const policies: InputSizePolicy[] = ['bundle', ...values.sizes!.split(',').map(inputSizeArg)];
  const cascadeDir = mkdtempSync(join(tmpdir(), 'jetface-res-cascade-'));
  await writeCascadeBundle({ detector: join(DATA, 'models', 'yunet_s_640_640.onnx'), recognizer: join(DATA, 'models', 'mobilefacenet_128.onnx'), out: cascadeDir, flipAugment: false });
  const cascade = await FaceEngine.create(cascadeDir, { providers: ['cpu'] });
  const probe = await FaceEngine.create(values.bundle!, { providers: ['cpu'], warmup: false });
  const { width, height } = probe.manifest.kind === 'joint' ? probe.manifest.input : { width: 640, height: 640 };
  await probe.close();

  const frames: Frame[] = [];
  const names: string[] = [];
  for (const file of readdirSync(join(DATA, 'scenes')).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort()) {
    const frame = await loadImageFrame(join(DATA, 'scenes', file));
    if (frame.width <= width && frame.height <= height) continue; // the same input under every policy
    frames.push(frame);
    names.push(file);
  }
  const reference = (await detectAll(cascade, frames, 1)).faces;
  await cascade.close();
  const referenceFaces = reference.reduce((n, f) => n + f.length, 0);

  const rows: Record<string, unknown>[] = [];
  for (const policy of policies) {
    const engine = await FaceEngine.create(values.bundle!, { providers: ['cpu'], inputSize: policy });
    const { faces, ms } = await detectAll(engine, frames, runs);
    await engine.close();
    const cosines: number[] = [];
    const bySize = new Map(SIZE_BUCKETS.map((b) => [b.name, { faces: 0, found: 0, cosines: [] as number[] }]));
    faces.forEach((found, i) => {
      for (const ref of reference[i]!) {
        // The face's width once the frame is letterboxed into the bundle's input: how small it is at 'bundle'.
        const atBundle = ((ref.box[2] - ref.box[0]) * Math.min(width / frames[i]!.width, height / frames[i]!.height));
        const bucket = bySize.get(SIZE_BUCKETS.find((b) => atBundle < b.below)!.name)!;
        bucket.faces++;
        let best: Face | undefined;
        let bestIou = 0.5;
        for (const f of found) {
          const iou = boxIou(f.box, ref.box);
          if (iou >= bestIou) [best, bestIou] = [f, iou];
        }
        if (best) {
          cosines.push(dot(best.embedding, ref.embedding));
          bucket.found++;
          bucket.cosines.push(cosines[cosines.length - 1]!);
        }
      }
    });
    const row = {
      input_size: policy,
      frames: frames.length,
      faces: faces.reduce((n, f) => n + f.length, 0),
      cascade_faces: referenceFaces,
      cascade_faces_found: cosines.length,
      cosine_to_cascade_mean: Math.round((cosines.reduce((a, b) => a + b, 0) / Math.max(1, cosines.length)) * 1000) / 1000,
      cosine_under_0_5: Math.round((cosines.filter((c) => c < 0.5).length / Math.max(1, cosines.length)) * 1000) / 1000,
      ms_per_frame_median: Math.round(median(ms) * 10) / 10,
      ms_all_frames: Math.round(ms.reduce((a, b) => a + b, 0)),
      by_width_at_bundle: Object.fromEntries(
        [...bySize].map(([name, b]) => [name, { faces: b.faces, found: b.found, cosine_mean: Math.round((b.cosines.reduce((x, y) => x + y, 0) / Math.max(1, b.cosines.length)) * 1000) / 1000 }]),
      ),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const base = rows[0]!;
  console.log(JSON.stringify({ bundle: values.bundle, scenes: names.length, rows, ms_all_ratio_vs_bundle: rows.map((r) => Math.round(((r['ms_all_frames'] as number) / (base['ms_all_frames'] as number)) * 100) / 100) }));
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
