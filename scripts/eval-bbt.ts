/**
 * The BBT identification goal (issue 6): enroll the 8 people of ../shared/data/people/bbt (5 tight
 * crops each) into a fresh SQLite gallery, then match every face the engine finds in
 * scenes/bbt1..5.jpg. Prints per-scene lines and, last, one JSON line for the bundle (default models/jetface-s) with the cascade's figures nested:
 * {bundle, identified, faces, accuracy, strangers, strangers_named, wrong_names, ..., cascade: {...}}.
 *
 * No ground truth is stored (it would be derived from the data): the reference identity of a face
 * is the reference cascade's (YuNet + MobileFaceNet) own confident match against a gallery enrolled
 * from the same crops; a cascade face with no confident match is a stranger (someone not among the
 * 8). docs/gallery.md "BBT goal" says what a person looking at the images saw.
 *
 *   npm run -s eval:bbt [-- --threshold 0.45 --margin 0.05 --bundle DIR --draw OUT_DIR --sweep --pad-retries 0.5,1 --grey --input-size frame]
 *
 * Photos of one person each (a gallery folder and a probe folder) are `jetface eval identify`
 * (sdk/eval/identification.ts). The scenes here hold several faces and no stored labels, so this
 * script keeps its own matching against the reference cascade's labels.
 */
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { FaceEngine } from '../sdk/engine/face-engine';
import { inputSizeArg, type InputSizePolicy } from '../sdk/engine/input-size';
import { boxIou } from '../sdk/engine/nms';
import { enrollFolder } from '../sdk/gallery/enroll';
import { decodeImageBytes } from '../sdk/gallery/enroll-input';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import type { SearchResult } from '../sdk/gallery/types';
import { loadImageFrame } from '../sdk/image/decode';
import type { Box } from '../sdk/types';
import { writeCascadeBundle } from '../toolchain/bundle/cascade';

const DATA = resolve(__dirname, '../../shared/data');
const SCENES = [1, 2, 3, 4, 5].map((i) => join(DATA, 'scenes', `bbt${i}.jpg`));
/** The reference's confidence rule: best cosine ≥ 0.45 and ≥ 0.1 ahead of the runner-up (MobileFaceNet; LFW same-person pairs sit mostly above 0.45). */
const REFERENCE = { threshold: 0.45, margin: 0.1 };

interface SceneFace {
  box: Box;
  score: number;
  embedding: Float32Array;
  result: SearchResult;
}

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', default: resolve(__dirname, '../models/jetface-s') },
    threshold: { type: 'string' },
    margin: { type: 'string' },
    draw: { type: 'string' },
    sweep: { type: 'boolean', default: false },
    'pad-retries': { type: 'string' },
    grey: { type: 'boolean', default: false },
    /** FaceEngine's inputSize for --bundle: 'frame' feeds the larger scenes at their own resolution (dynamic bundles). */
    'input-size': { type: 'string', default: 'bundle' },
  },
});

async function runBundle(
  bundle: string,
  options: { threshold?: number; margin?: number },
  inputSize: InputSizePolicy = 'bundle',
): Promise<{ faces: SceneFace[][]; enrolled: number; refused: number; gallery: SqliteGallery; dir: string }> {
  const engine = await FaceEngine.create(bundle, { inputSize });
  const dir = mkdtempSync(join(tmpdir(), 'jetface-bbt-'));
  // Each bundle's own match threshold unless one is given: what a device running it would use.
  const gallery = SqliteGallery.open(join(dir, 'gallery.db'), { modelId: embeddingSpaceId(engine.manifest), threshold: engine.manifest.thresholds.match, ...options });
  try {
    const padRetries = values['pad-retries']?.split(',').map(Number);
    const job = await enrollFolder(engine, gallery, join(DATA, 'people', 'bbt'), padRetries ? { padRetries } : {});
    const faces: SceneFace[][] = [];
    for (const scene of SCENES) {
      // --grey: the scenes in grey, like the enrollment crops (to see how much colour alone costs).
      const found = await engine.detect(values.grey ? await decodeImageBytes(await sharp(scene).greyscale().png().toBuffer(), scene) : await loadImageFrame(scene));
      const results = gallery.search(found.map((f) => f.embedding), { topK: 2 });
      faces.push(found.map((f, i) => ({ box: f.box, score: f.score, embedding: f.embedding, result: results[i]! })));
    }
    return { faces, enrolled: job.enrolled, refused: job.refused, gallery, dir };
  } finally {
    await engine.close();
  }
}

/** The reference label of a face: the cascade face it overlaps (IoU ≥ 0.3), or undefined when the cascade has none there. */
function referenceOf(box: Box, reference: SceneFace[]): { label: string | null } | undefined {
  let best: SceneFace | undefined;
  let bestIou = 0.3;
  for (const r of reference) {
    const iou = boxIou(box, r.box);
    if (iou >= bestIou) [best, bestIou] = [r, iou];
  }
  return best ? { label: labelOf(best) } : undefined;
}

function labelOf(face: SceneFace): string | null {
  return face.result.status === 'known' ? face.result.match!.personId : null;
}

/** Counts for one bundle's answers at a threshold/margin, against the reference labels. */
function score(faces: SceneFace[][], reference: SceneFace[][], gallery: SqliteGallery, threshold: number, margin: number, print: boolean) {
  let enrolledFaces = 0;
  let identified = 0;
  let wrong = 0;
  let strangers = 0;
  let strangersNamed = 0;
  let unreferencedNamed = 0;
  reference.forEach((ref) => {
    for (const r of ref) {
      if (labelOf(r) === null) strangers++;
      else enrolledFaces++;
    }
  });
  faces.forEach((scene, s) => {
    const results = gallery.search(scene.map((f) => f.embedding), { topK: 8, threshold, margin });
    const lines: string[] = [];
    scene.forEach((face, i) => {
      const answer = results[i]!;
      const named = answer.status === 'known' ? answer.match!.personId : null;
      const ref = referenceOf(face.box, reference[s]!);
      if (ref === undefined) {
        if (named) unreferencedNamed++;
      } else if (ref.label === null) {
        if (named) strangersNamed++;
      } else if (named === ref.label) identified++;
      else if (named) wrong++;
      const top = answer.candidates[0];
      const right = ref?.label ? answer.candidates.find((c) => c.personId === ref.label) : undefined;
      const rightText = right ? `, ${ref!.label} ${right.similarity.toFixed(3)}` : '';
      lines.push(`  face ${i} [${face.box.map(Math.round).join(',')}] reference ${ref === undefined ? '(none)' : (ref.label ?? 'stranger')} -> ${named ?? answer.status} (top ${top ? `${top.personId} ${top.similarity.toFixed(3)}` : '-'}, 2nd ${answer.candidates[1]?.similarity.toFixed(3) ?? '-'}${rightText})`);
    });
    if (print) console.log(`scene bbt${s + 1}.jpg: ${scene.length} faces\n${lines.join('\n')}`);
  });
  return { identified, faces: enrolledFaces, accuracy: enrolledFaces ? round(identified / enrolledFaces) : 0, strangers, strangers_named: strangersNamed, wrong_names: wrong, unreferenced_named: unreferencedNamed };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

async function draw(out: string, faces: SceneFace[][], tag: string): Promise<void> {
  mkdirSync(out, { recursive: true });
  for (const [s, scene] of faces.entries()) {
    const meta = await sharp(SCENES[s]!).metadata();
    const rects = scene
      .map((f, i) => {
        const [x1, y1, x2, y2] = f.box;
        const label = `${i}:${labelOf(f) ?? f.result.status}`;
        return `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="none" stroke="lime" stroke-width="3"/><text x="${x1}" y="${Math.max(14, y1 - 4)}" font-size="18" fill="yellow" stroke="black" stroke-width="0.5">${label}</text>`;
      })
      .join('');
    const svg = Buffer.from(`<svg width="${meta.width}" height="${meta.height}" xmlns="http://www.w3.org/2000/svg">${rects}</svg>`);
    await sharp(SCENES[s]!).composite([{ input: svg }]).png().toFile(join(out, `bbt${s + 1}-${tag}.png`));
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(DATA, 'people', 'bbt'))) {
    console.log(JSON.stringify({ skipped: '../shared/data is absent' }));
    return;
  }
  const hasCascade = existsSync(join(DATA, 'models', 'yunet_s_640_640.onnx'));
  if (!hasCascade) throw new Error('the reference labels need ../shared/data/models (YuNet + MobileFaceNet)');
  const cascadeDir = mkdtempSync(join(tmpdir(), 'jetface-bbt-cascade-'));
  await writeCascadeBundle({ detector: join(DATA, 'models', 'yunet_s_640_640.onnx'), recognizer: join(DATA, 'models', 'mobilefacenet_128.onnx'), out: cascadeDir, flipAugment: false });
  const threshold = values.threshold !== undefined ? Number(values.threshold) : undefined;
  const margin = values.margin !== undefined ? Number(values.margin) : undefined;
  const reference = await runBundle(cascadeDir, REFERENCE);
  const refFaces = reference.faces;
  const runs: { name: string; bundle: string }[] = [{ name: 'cascade', bundle: cascadeDir }, { name: 'jetface-s', bundle: values.bundle! }];
  const results: Record<string, unknown>[] = [];
  for (const run of runs) {
    const inputSize = run.name === 'cascade' ? 'bundle' : inputSizeArg(values['input-size']!);
    const r = await runBundle(run.bundle, { ...(threshold !== undefined ? { threshold } : {}), ...(margin !== undefined ? { margin } : {}) }, inputSize);
    console.log(`== ${run.name} (${run.bundle}): enrolled ${r.enrolled} of ${r.enrolled + r.refused} crops; threshold ${r.gallery.threshold}, margin ${r.gallery.margin}`);
    const result = score(r.faces, refFaces, r.gallery, r.gallery.threshold, r.gallery.margin, true);
    if (values.sweep) {
      for (const t of [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7]) {
        for (const m of [0, 0.05, 0.1]) console.log(`  sweep threshold ${t} margin ${m}: ${JSON.stringify(score(r.faces, refFaces, r.gallery, t, m, false))}`);
      }
    }
    if (values.draw) await draw(values.draw, r.faces, run.name);
    results.push({ bundle: run.name, ...result, threshold: r.gallery.threshold, margin: r.gallery.margin, enrolled_crops: r.enrolled, refused_crops: r.refused, reference: `cascade confident match (cosine >= ${REFERENCE.threshold}, margin >= ${REFERENCE.margin})` });
    r.gallery.close();
    rmSync(r.dir, { recursive: true, force: true });
  }
  reference.gallery.close();
  rmSync(reference.dir, { recursive: true, force: true });
  rmSync(cascadeDir, { recursive: true, force: true });
  const [cascade, joint] = results;
  console.log(JSON.stringify({ ...joint, cascade }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
