/**
 * What 'auto' buys on small frames (a 640x360 camera, a downscaled stream): every photo of
 * ../shared/data/scenes at least twice `--side` on its longer side is shrunk to `--side` (sharp's
 * default Lanczos, as a camera's scaler would), and each face found there is compared with the same
 * face found in the full-size photo at `inputSize: 'auto'` (its embedding at the recognizer's
 * working width, the best this bundle gives). Per input size: faces found, mean cosine to the
 * full-size embedding and the share at or above the bundle's match threshold (would still be named
 * after enrolling from a good photo), by the face's width in the small frame; and ms per frame.
 *
 *   npm run -s eval:small-frames [-- --bundle DIR --side 640 --sizes bundle,auto]
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine } from '../sdk/engine/face-engine';
import { inputSizeArg } from '../sdk/engine/input-size';
import { dot, matchFaces } from '../sdk/eval/face-match';
import { loadImageFrame } from '../sdk/image/decode';
import { scaleFrame } from '../sdk/image/scale';
import type { Face, Frame } from '../sdk/types';

const DATA = resolve(__dirname, '../../shared/data');
const { values } = parseArgs({
  options: {
    bundle: { type: 'string', default: resolve(__dirname, '../models/jetface-s') },
    side: { type: 'string', default: '640' },
    sizes: { type: 'string', default: 'bundle,auto' },
  },
});
/** Face widths in the small frame (px). */
const WIDTHS = [
  { name: 'under_16', below: 16 },
  { name: '16_24', below: 24 },
  { name: '24_40', below: 40 },
  { name: '40_up', below: Infinity },
];

const round = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const side = Number(values.side);
  const full = await FaceEngine.create(values.bundle!, { providers: ['cpu'], inputSize: 'auto' });
  const threshold = full.manifest.thresholds.match;
  const photos: { reference: Face[]; small: Frame; scale: number }[] = [];
  for (const file of readdirSync(join(DATA, 'scenes')).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort()) {
    const frame = await loadImageFrame(join(DATA, 'scenes', file));
    if (Math.max(frame.width, frame.height) < 2 * side) continue;
    const small = await scaleFrame(frame, side / Math.max(frame.width, frame.height));
    photos.push({ reference: await full.detect(frame), small, scale: small.width / frame.width });
  }
  await full.close();

  for (const size of values.sizes!.split(',').map(inputSizeArg)) {
    const engine = await FaceEngine.create(values.bundle!, { providers: ['cpu'], inputSize: size });
    const buckets = new Map(WIDTHS.map((w) => [w.name, { found: 0, cosines: [] as number[] }]));
    const ms: number[] = [];
    for (const photo of photos) {
      const t = process.hrtime.bigint();
      const faces = await engine.detect(photo.small);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
      const inFull = faces.map((f) => ({ ...f, box: f.box.map((v) => v / photo.scale) as Face['box'] }));
      for (const [i, j] of matchFaces(inFull, photo.reference)) {
        const width = faces[i]!.box[2] - faces[i]!.box[0];
        const bucket = buckets.get(WIDTHS.find((w) => width < w.below)!.name)!;
        bucket.found++;
        bucket.cosines.push(dot(faces[i]!.embedding, photo.reference[j]!.embedding));
      }
    }
    await engine.close();
    ms.sort((a, b) => a - b);
    const row = {
      input_size: size,
      side,
      photos: photos.length,
      reference_faces: photos.reduce((n, p) => n + p.reference.length, 0),
      ms_per_frame_median: Math.round(ms[Math.floor(ms.length / 2)]! * 10) / 10,
      by_width: Object.fromEntries(
        [...buckets].map(([name, b]) => [
          name,
          { found: b.found, cosine_mean: round(b.cosines.reduce((x, y) => x + y, 0) / Math.max(1, b.found)), at_threshold: round(b.cosines.filter((c) => c >= threshold).length / Math.max(1, b.found)) },
        ]),
      ),
    };
    console.log(JSON.stringify(row));
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
