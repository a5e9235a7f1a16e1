/**
 * How close a clip's faces come to enrolled people, before any tracking policy: one photo per
 * person (the largest face of `<enroll>/<person>.png|jpg`), every face of the clip at `--fps`
 * assigned to the person it is closest to; per person, the best cosine, how many faces reach the
 * threshold (default: the bundle's `thresholds.match`) and the 90th percentile. The Hamilton
 * clip's goal (issue 14) is judged through the tracker (test/tracking-e2e.test.ts); this says
 * whether the embeddings could get there. Then the same faces through `FaceTracker` with an
 * in-memory gallery of those photos: per track of 3 or more faces, its median face width, how many
 * of its faces reach the threshold for each person, and the tracker's decision.
 *
 *   npm run -s eval:clip [-- --bundle DIR --clip FILE --enroll DIR --fps 10 --threshold T --input-size bundle|frame|auto|N]
 */
import { readdirSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { FaceEngine } from '../sdk/engine/face-engine';
import { inputSizeArg } from '../sdk/engine/input-size';
import { dot, largestFace } from '../sdk/eval/face-match';
import { loadImageFrame } from '../sdk/image/decode';
import { InMemoryGallery } from '../sdk/tracking/memory-gallery';
import { FaceTracker } from '../sdk/tracking/tracker';

const DATA = resolve(__dirname, '../../shared/data');
const { values } = parseArgs({
  options: {
    bundle: { type: 'string', default: resolve(__dirname, '../models/jetface-s') },
    clip: { type: 'string', default: join(DATA, 'video', 'hamilton_clip.mp4') },
    enroll: { type: 'string', default: join(DATA, 'video', 'enroll') },
    fps: { type: 'string', default: '10' },
    threshold: { type: 'string' },
    'input-size': { type: 'string', default: 'bundle' },
  },
});

async function main(): Promise<void> {
  const engine = await FaceEngine.create(values.bundle!, { providers: ['cpu'], inputSize: inputSizeArg(values['input-size']!) });
  try {
    const threshold = values.threshold !== undefined ? Number(values.threshold) : engine.manifest.thresholds.match;
    const people: { name: string; embedding: Float32Array; sims: number[] }[] = [];
    for (const file of readdirSync(values.enroll!).filter((f) => ['.png', '.jpg', '.jpeg'].includes(extname(f).toLowerCase())).sort()) {
      const face = largestFace(await engine.detect(await loadImageFrame(join(values.enroll!, file))));
      if (face) people.push({ name: file.slice(0, -extname(file).length), embedding: face.embedding, sims: [] });
      else console.log(`${file}: no face, not enrolled`);
    }
    if (people.length === 0) throw new Error(`no face in any photo of ${values.enroll}`);
    const gallery = new InMemoryGallery({ threshold });
    for (const p of people) gallery.enroll(p.name, p.name, [p.embedding]);
    const tracker = new FaceTracker(gallery, { cameraId: 'clip' });
    const tracks = new Map<number, { widths: number[]; matched: number[]; decision: string }>();
    let frames = 0;
    for await (const frame of await openFrameSource(values.clip!, { maxFps: Number(values.fps), cameraId: 'clip' })) {
      frames++;
      const faces = await engine.detect(frame);
      const snapshots = tracker.update(faces, frame.timestamp).tracks;
      for (const face of faces) {
        const sims = people.map((p) => dot(p.embedding, face.embedding));
        const k = sims.indexOf(Math.max(...sims));
        people[k]!.sims.push(sims[k]!);
        // The track this face was associated with this frame: its last box is this face's.
        const track = snapshots.find((t) => t.lastSeen === frame.timestamp && t.box.every((v, i) => v === face.box[i]));
        if (!track) continue;
        const tally = tracks.get(track.trackId) ?? { widths: [], matched: people.map(() => 0), decision: '' };
        tally.widths.push(face.box[2] - face.box[0]);
        sims.forEach((s, i) => (tally.matched[i]! += s >= threshold ? 1 : 0));
        tally.decision = track.identity ? track.identity.name : track.identityStatus;
        tracks.set(track.trackId, tally);
      }
    }
    const round = (x: number): number => Math.round(x * 1000) / 1000;
    const report = people.map((p) => {
      const sorted = [...p.sims].sort((a, b) => a - b);
      return { person: p.name, faces: sorted.length, best: round(sorted.at(-1) ?? Number.NaN), at_threshold: sorted.filter((s) => s >= threshold).length, p90: round(sorted[Math.floor(0.9 * (sorted.length - 1))] ?? Number.NaN) };
    });
    for (const r of report) console.log(`${r.person}: ${r.faces} faces closest to this person, best ${r.best}, ${r.at_threshold} at ≥ ${threshold}, p90 ${r.p90}`);
    const perTrack = [...tracks].filter(([, t]) => t.widths.length >= 3).map(([id, t]) => ({
      track: id,
      faces: t.widths.length,
      median_width: Math.round([...t.widths].sort((a, b) => a - b)[Math.floor(t.widths.length / 2)]!),
      at_threshold: Object.fromEntries(people.map((p, i) => [p.name, t.matched[i]])),
      decision: t.decision,
    }));
    for (const t of perTrack) console.log(`track ${t.track}: ${t.faces} faces, median ${t.median_width} px wide, at ≥ ${threshold}: ${JSON.stringify(t.at_threshold)}; ${t.decision}`);
    console.log(JSON.stringify({ bundle: engine.info.modelId, clip: values.clip, frames, threshold, people: report, tracks: perTrack }));
  } finally {
    await engine.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
