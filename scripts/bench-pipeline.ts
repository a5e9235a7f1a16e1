/**
 * `npm run -s bench:pipeline`: the whole pipeline on hamilton_clip.mp4, measured.
 *
 * FFmpeg → FaceEngine (models/jetface-s, CPU provider, as test/pipeline.test.ts) → tracker (the two
 * people of video/enroll/ enrolled) → EventPublisher → embedded aedes broker → JetfaceSubscriber,
 * all in this process. Three runs over the whole clip with no fps cap; for each:
 *
 * - throughput: frames the pipeline took from the source per second of wall time (start → finished);
 * - event-loop lag: `monitorEventLoopDelay({ resolution: 10 })` over the run, and once, as a
 *   baseline, over an idle period as long as the median run (broker, publisher and subscriber
 *   connected, nothing flowing);
 * - frame-to-event latency: frames of a file carry the video's own clock, not the wall clock, so
 *   the source's iterator is wrapped: the wall time at which the pipeline received each frame is
 *   noted, and every recognition / recognition_update / track_ended event that the pipeline emits
 *   while that frame is being processed (the `event` emission is synchronous inside the frame's
 *   processing, one frame at a time per camera) is timed from it to the moment the subscriber
 *   emits it. The track_ended events of the end-of-stream flush belong to no frame and are left
 *   out (counted as `flush`).
 *
 * Prints a table, and as the last line a JSON object of the figures (fps median over the runs;
 * loop lag of the median-fps run; latency over the events of all runs).
 *
 * Options (env): BENCH_RUNS (3), BENCH_PROVIDERS (cpu; comma separated, e.g. cuda,cpu).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import type { FrameSource } from '../sdk/capture/types';
import { FaceEngine } from '../sdk/engine/face-engine';
import type { ExecutionProviderName } from '../sdk/engine/providers';
import type { JetfaceEvent } from '../sdk/events/types';
import { startEmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { EventPublisher } from '../sdk/mqtt/publisher';
import { JetfaceSubscriber } from '../sdk/mqtt/subscriber';
import { enrollFromImages, type EnrollEntry } from '../sdk/pipeline/enroll';
import { Pipeline } from '../sdk/pipeline/pipeline';
import { InMemoryGallery } from '../sdk/tracking/memory-gallery';
import type { Frame } from '../sdk/types';

const ROOT = resolve(__dirname, '..');
const DATA = resolve(ROOT, '..', 'shared', 'data');
const CLIP = join(DATA, 'video', 'hamilton_clip.mp4');
const ENROLL_DIR = join(DATA, 'video', 'enroll');
const BUNDLE = join(ROOT, 'models', 'jetface-s');
const DEVICE = 'bench';
const CAMERA = 'hamilton';
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const PROVIDERS = (process.env['BENCH_PROVIDERS'] ?? 'cpu').split(',').map((p) => p.trim()) as ExecutionProviderName[];
const LOOP_RESOLUTION_MS = 10;
const TIMED_TYPES = new Set<JetfaceEvent['type']>(['recognition', 'recognition_update', 'track_ended']);
const fast = { backoff: { initialMs: 50, maxMs: 300 }, connectTimeoutMs: 2000 };

interface LoopLag {
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

interface RunResult {
  frames: number;
  faces: number;
  wallMs: number;
  fps: number;
  detectMsMedian: number | null;
  emitted: number;
  received: number;
  timed: number;
  flush: number;
  loop: LoopLag;
  /** Frame received → subscriber got the event, ms. */
  frameToEvent: number[];
  /** Frame received → the pipeline emitted the event (detect + track), ms. */
  frameToEmit: number[];
  /** The pipeline emitted the event → the subscriber got it (sink lane + MQTT), ms. */
  emitToReceive: number[];
}

/** video/enroll/ holds one photo per person, named by the person's id (as test/pipeline.test.ts). */
function enrollEntries(): EnrollEntry[] {
  return readdirSync(ENROLL_DIR)
    .filter((f) => /\.(png|jpe?g|webp)$/i.test(f))
    .sort()
    .map((f) => {
      const personId = basename(f, extname(f));
      const name = personId
        .split('-')
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join(' ')
        .replace('Lin Manuel', 'Lin-Manuel');
      return { personId, name, files: [join(ENROLL_DIR, f)] };
    });
}

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function lagOf(h: IntervalHistogram): LoopLag {
  const ms = (ns: number): number => ns / 1e6;
  return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Wraps the source's iterator so that `onFrame` is called when the pipeline receives a frame
 * (the underlying next() resolved) and `onFrame(null)` when iteration ends.
 */
function instrument(source: FrameSource, onFrame: (frame: Frame | null, at: number) => void): FrameSource {
  const original = source[Symbol.asyncIterator].bind(source);
  Object.defineProperty(source, Symbol.asyncIterator, {
    configurable: true,
    value: (): AsyncIterator<Frame> => {
      const inner = original();
      return {
        async next(): Promise<IteratorResult<Frame>> {
          try {
            const r = await inner.next();
            onFrame(r.done ? null : r.value, performance.now());
            return r;
          } catch (error) {
            onFrame(null, performance.now());
            throw error;
          }
        },
        async return(value?: unknown): Promise<IteratorResult<Frame>> {
          onFrame(null, performance.now());
          return inner.return ? inner.return(value) : { done: true, value: undefined };
        },
      };
    },
  });
  return source;
}

async function main(): Promise<void> {
  const started = performance.now();
  const engine = await FaceEngine.create(BUNDLE, { providers: PROVIDERS });
  const broker = await startEmbeddedBroker({ port: 0 });
  const outboxDir = mkdtempSync(join(tmpdir(), 'jetface-bench-'));
  const gallery = new InMemoryGallery({ threshold: engine.manifest.thresholds.match });
  const outcomes = await enrollFromImages(engine, gallery, enrollEntries());
  const refused = outcomes.filter((o) => o.status !== 'enrolled');
  if (refused.length > 0) throw new Error(`enrollment refused: ${JSON.stringify(refused)}`);

  const sub = await JetfaceSubscriber.create({ url: broker.url, ...fast });
  const publisher = await EventPublisher.create({ url: broker.url, device: DEVICE, outbox: join(outboxDir, 'outbox.jsonl'), ...fast });

  // Per event id: wall time of its frame, and of its emission by the pipeline.
  const frameAt = new Map<string, number>();
  const emitAt = new Map<string, number>();
  let currentFrameAt: number | null = null;
  let sink: { received: number; frameToEvent: number[]; emitToReceive: number[] } = { received: 0, frameToEvent: [], emitToReceive: [] };
  sub.on('event', (e) => {
    const now = performance.now();
    sink.received++;
    const f = frameAt.get(e.id);
    if (f !== undefined) sink.frameToEvent.push(now - f);
    const m = emitAt.get(e.id);
    if (m !== undefined && TIMED_TYPES.has(e.type)) sink.emitToReceive.push(now - m);
  });

  const runs: RunResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    sink = { received: 0, frameToEvent: [], emitToReceive: [] };
    frameAt.clear();
    emitAt.clear();
    currentFrameAt = null;
    const frameToEmit: number[] = [];
    let emitted = 0;
    let timed = 0;
    let flush = 0;
    const source = instrument(await openFrameSource(CLIP, { cameraId: CAMERA }), (frame, at) => {
      currentFrameAt = frame ? at : null;
    });
    const pipeline = await Pipeline.create({ engine, gallery, device: DEVICE, sinks: [publisher], cameras: [{ id: CAMERA, source }] });
    pipeline.on('event', (e) => {
      const now = performance.now();
      emitted++;
      emitAt.set(e.id, now);
      if (!TIMED_TYPES.has(e.type)) return;
      if (currentFrameAt === null) {
        flush++;
        return;
      }
      timed++;
      frameAt.set(e.id, currentFrameAt);
      frameToEmit.push(now - currentFrameAt);
    });
    const sinkErrors: unknown[] = [];
    pipeline.on('sink_error', (e) => sinkErrors.push(e.error));

    const h = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    h.enable();
    const t0 = performance.now();
    await pipeline.start();
    await pipeline.finished();
    const wallMs = performance.now() - t0;
    h.disable();
    await publisher.flush(10_000);
    await until(() => sink.received >= emitted, 10_000, 'the subscriber to receive every event');
    const [stats] = pipeline.stats();
    if (!stats || stats.frameErrors > 0 || stats.sinkErrors > 0 || sinkErrors.length > 0) throw new Error(`run ${i + 1} failed: ${JSON.stringify({ ...stats, source: undefined })}`);
    runs.push({
      frames: stats.frames,
      faces: stats.faces,
      wallMs,
      fps: (stats.frames / wallMs) * 1000,
      detectMsMedian: stats.detectMsMedian,
      emitted,
      received: sink.received,
      timed,
      flush,
      loop: lagOf(h),
      frameToEvent: sink.frameToEvent,
      frameToEmit,
      emitToReceive: sink.emitToReceive,
    });
    const r = runs.at(-1)!;
    console.log(
      `run ${i + 1}/${RUNS}: ${r.frames} frames in ${(r.wallMs / 1000).toFixed(2)} s (${r.fps.toFixed(1)} fps, detect median ${r.detectMsMedian?.toFixed(1)} ms), ` +
        `${r.emitted} events (${r.timed} timed, ${r.flush} end-of-stream flush), subscriber got ${r.received}`,
    );
  }

  // The median run by fps, and an idle period as long as it.
  const byFps = [...runs].sort((a, b) => a.fps - b.fps);
  const mid = byFps[byFps.length >> 1]!;
  const idle = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  idle.enable();
  await sleep(mid.wallMs);
  idle.disable();
  const idleLag = lagOf(idle);

  const frameToEvent = runs.flatMap((r) => r.frameToEvent);
  const frameToEmit = runs.flatMap((r) => r.frameToEmit);
  const emitToReceive = runs.flatMap((r) => r.emitToReceive);
  const fpsMedian = quantile(
    runs.map((r) => r.fps),
    0.5,
  );

  const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
  console.log('');
  console.log(`hamilton_clip.mp4, ${BUNDLE.replace(`${ROOT}/`, '')}, providers ${PROVIDERS.join(',')} (using ${engine.info.provider}), ${runs.length} runs, no fps cap`);
  console.log('');
  console.log('| run | frames | wall s | fps | detect median ms | events | loop lag p50 / p99 / max ms |');
  console.log('|---|---|---|---|---|---|---|');
  runs.forEach((r, i) =>
    console.log(`| ${i + 1} | ${r.frames} | ${f2(r.wallMs / 1000)} | ${f1(r.fps)} | ${f1(r.detectMsMedian ?? Number.NaN)} | ${r.emitted} | ${f1(r.loop.p50)} / ${f1(r.loop.p99)} / ${f1(r.loop.max)} |`),
  );
  console.log(`| idle (${f2(mid.wallMs / 1000)} s) | | | | | | ${f1(idleLag.p50)} / ${f1(idleLag.p99)} / ${f1(idleLag.max)} |`);
  console.log('');
  console.log('| figure | value |');
  console.log('|---|---|');
  console.log(`| throughput, median of ${runs.length} runs | ${f1(fpsMedian)} fps |`);
  console.log(`| event-loop lag during the median run, p50 / p99 / max | ${f1(mid.loop.p50)} / ${f1(mid.loop.p99)} / ${f1(mid.loop.max)} ms |`);
  console.log(`| event-loop lag idle, p50 / p99 / max | ${f1(idleLag.p50)} / ${f1(idleLag.p99)} / ${f1(idleLag.max)} ms |`);
  console.log(`| p99 ratio run / idle | ${f2(mid.loop.p99 / idleLag.p99)} |`);
  console.log(`| frame received → subscriber got the event, median / p90 (${frameToEvent.length} events) | ${f1(quantile(frameToEvent, 0.5))} / ${f1(quantile(frameToEvent, 0.9))} ms |`);
  console.log(`|   of which frame received → pipeline emitted (detect + track), median / p90 | ${f1(quantile(frameToEmit, 0.5))} / ${f1(quantile(frameToEmit, 0.9))} ms |`);
  console.log(`|   of which emitted → subscriber got it (sink + MQTT), median / p90 | ${f1(quantile(emitToReceive, 0.5))} / ${f1(quantile(emitToReceive, 0.9))} ms |`);
  console.log(`| total wall time of the benchmark | ${f1((performance.now() - started) / 1000)} s |`);

  await publisher.close();
  await sub.close();
  await engine.close();
  await broker.close();
  rmSync(outboxDir, { recursive: true, force: true });

  const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;
  console.log(
    JSON.stringify({
      fps_median: round(fpsMedian, 2),
      loop_lag_p99_ms: round(mid.loop.p99, 2),
      loop_lag_idle_p99_ms: round(idleLag.p99, 2),
      frame_to_event_ms_median: round(quantile(frameToEvent, 0.5), 2),
      frame_to_event_ms_p90: round(quantile(frameToEvent, 0.9), 2),
      frames: mid.frames,
      events: frameToEvent.length,
    }),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
