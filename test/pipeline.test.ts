/**
 * The pipeline end to end on real data: hamilton_clip.mp4 through FFmpeg, the default bundle, the
 * two people of video/enroll/ enrolled from their photos, events through an EventPublisher to the
 * embedded aedes broker and back through a JetfaceSubscriber. Also: a camera that never opens
 * beside one that works, a sink that always fails, and stop() in the middle of a stream.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { FaceEngine } from '../sdk/engine/face-engine';
import { EngineClosedError } from '../sdk/errors';
import { callbackSink, type EventSink } from '../sdk/events/sink';
import type { JetfaceEvent } from '../sdk/events/types';
import type { Frame } from '../sdk/types';
import { validateEvent } from '../sdk/events/validate';
import { startEmbeddedBroker, type EmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { EventPublisher } from '../sdk/mqtt/publisher';
import { JetfaceSubscriber } from '../sdk/mqtt/subscriber';
import { enrollFromImages, type EnrollEntry } from '../sdk/pipeline/enroll';
import { Pipeline } from '../sdk/pipeline/pipeline';
import { InMemoryGallery } from '../sdk/tracking/memory-gallery';
import { CLIP, FFMPEG, childProcesses, describeWith } from './support/capture';
import { dataPath, tempDir, CLIP_MATCH_THRESHOLD } from './support/data';
import { until } from './support/events';

const BUNDLE = resolve(__dirname, '..', 'models', 'jetface-s');
const DEVICE = 'jetson-test';
const fast = { backoff: { initialMs: 50, maxMs: 300 }, connectTimeoutMs: 2000 };

/** video/enroll/ holds one photo per person, named by the person's id (`lin-manuel-miranda.png`). */
function enrollEntries(): EnrollEntry[] {
  const dir = dataPath('video', 'enroll');
  return readdirSync(dir)
    .filter((f) => /\.(png|jpe?g|webp)$/i.test(f))
    .sort()
    .map((f) => {
      const personId = basename(f, extname(f));
      const name = personId
        .split('-')
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join(' ')
        .replace('Lin Manuel', 'Lin-Manuel');
      return { personId, name, files: [join(dir, f)] };
    });
}

function trackIdOf(e: JetfaceEvent): string | null {
  return 'trackId' in e ? e.trackId : null;
}

/** Per track: one recognition at most, before any update; exactly one track_ended, last. */
function checkTracks(events: readonly JetfaceEvent[]): Map<string, JetfaceEvent[]> {
  const byTrack = new Map<string, JetfaceEvent[]>();
  for (const e of events) {
    const id = trackIdOf(e);
    if (id !== null) byTrack.set(id, [...(byTrack.get(id) ?? []), e]);
  }
  for (const [trackId, list] of byTrack) {
    const types = list.map((e) => e.type);
    expect({ trackId, recognitions: types.filter((t) => t === 'recognition').length <= 1 }).toEqual({ trackId, recognitions: true });
    expect({ trackId, ended: types.filter((t) => t === 'track_ended').length }).toEqual({ trackId, ended: 1 });
    expect(types.at(-1)).toBe('track_ended');
    const firstUpdate = types.indexOf('recognition_update');
    if (firstUpdate >= 0) expect(types.indexOf('recognition')).toBeLessThan(firstUpdate);
  }
  return byTrack;
}

describeWith(FFMPEG)('Pipeline: hamilton_clip.mp4 → FaceEngine (models/jetface-s) → tracker → events → MQTT', () => {
  let engine: FaceEngine;
  let broker: EmbeddedBroker;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    engine = await FaceEngine.create(BUNDLE, { providers: ['cpu'] });
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  afterAll(async () => {
    await engine?.close();
    await broker?.close();
    expect(childProcesses('ffmpeg')).toEqual([]);
  });

  test('enrollFromImages enrolls the largest face of each photo and refuses photos without one', async () => {
    const dir = tempDir();
    const blank = join(dir, 'blank.pgm');
    writeFileSync(blank, Buffer.concat([Buffer.from('P5\n64 64\n255\n'), Buffer.alloc(64 * 64, 128)]));
    const broken = join(dir, 'broken.png');
    writeFileSync(broken, 'not a png');
    const gallery = new InMemoryGallery({ threshold: CLIP_MATCH_THRESHOLD });
    const entries = enrollEntries();
    expect(entries.map((e) => e.personId)).toEqual(['alex-lacamoire', 'lin-manuel-miranda']);
    const outcomes = await enrollFromImages(engine, gallery, [...entries, { personId: 'nobody', name: 'Nobody', files: [blank, broken] }]);
    expect(outcomes.map((o) => [o.personId, o.status, o.status === 'refused' ? o.reason : 'ok'])).toEqual([
      ['alex-lacamoire', 'enrolled', 'ok'],
      ['lin-manuel-miranda', 'enrolled', 'ok'],
      ['nobody', 'refused', 'no_face'],
      ['nobody', 'refused', 'unreadable'],
    ]);
    expect(gallery.size).toBe(2);
  });

  test('publishes versioned events over MQTT: at most one recognition per track, every track ends, the subscriber gets them all', async () => {
    const gallery = new InMemoryGallery({ threshold: CLIP_MATCH_THRESHOLD });
    const outcomes = await enrollFromImages(engine, gallery, enrollEntries());
    expect(outcomes.every((o) => o.status === 'enrolled')).toBe(true);

    const sub = await JetfaceSubscriber.create({ url: broker.url, ...fast });
    closers.push(() => sub.close());
    const received: JetfaceEvent[] = [];
    sub.on('event', (e) => received.push(e));
    const publisher = await EventPublisher.create({ url: broker.url, device: DEVICE, outbox: join(tempDir(), 'outbox.jsonl'), ...fast });
    closers.push(() => publisher.close());
    const local: JetfaceEvent[] = [];

    const pipeline = await Pipeline.create({
      engine,
      gallery,
      device: DEVICE,
      sinks: [publisher, callbackSink(DEVICE, (e) => void local.push(e))],
      cameras: [{ id: 'hamilton', source: CLIP, sourceOptions: { maxFps: 10 } }],
    });
    const emitted: JetfaceEvent[] = [];
    pipeline.on('event', (e) => emitted.push(e));
    const t0 = Date.now();
    await pipeline.start();
    await pipeline.finished();
    const [stats] = pipeline.stats();
    await publisher.flush(10_000);
    await until(() => received.length >= emitted.length, 10_000, 'the subscriber to receive every event');

    const summary = emitted.map((e) => `${e.type}${'trackId' in e ? ` ${e.trackId}` : ''}${'identity' in e ? ` ${e.identity?.name ?? 'unknown'}` : ''}${'similarity' in e && e.similarity !== null ? ` (${e.similarity.toFixed(2)})` : ''}`);
    const recognized = [...new Set(emitted.flatMap((e) => ('identity' in e && e.identity ? [e.identity.name] : [])))];
    console.log(
      `pipeline over the clip at 10 fps in ${Date.now() - t0} ms: ${stats!.frames} frames, ${stats!.faces} faces, detect median ${stats!.detectMsMedian?.toFixed(1)} ms, ${emitted.length} events; recognized: ${recognized.join(', ') || 'nobody'}\n  ${summary.join('\n  ')}`,
    );

    expect(stats).toMatchObject({ camera: 'hamilton', state: 'ended', frameErrors: 0, sinkErrors: 0, sinkDrops: 0 });
    expect(stats!.frames).toBeGreaterThanOrEqual(88);
    expect(stats!.faces).toBeGreaterThan(0);
    expect(stats!.events).toBe(emitted.length);
    // Every event valid, stamped once: the same ids reached both sinks and the subscriber, in order.
    for (const e of emitted) expect(validateEvent(e)).toMatchObject({ ok: true });
    expect(local).toEqual(emitted);
    expect(received.map((e) => e.id)).toEqual(emitted.map((e) => e.id));
    expect(received).toEqual(emitted);
    expect(sub.stats()).toMatchObject({ invalid: 0 });
    // Camera life: online first, offline last (the file ended).
    expect(emitted[0]).toMatchObject({ type: 'camera_online', camera: 'hamilton', device: DEVICE, source: 'ffmpeg' });
    expect(emitted.at(-1)).toMatchObject({ type: 'camera_offline', reason: 'end of stream' });
    const byTrack = checkTracks(emitted);
    expect(byTrack.size).toBeGreaterThan(0);
    expect(emitted.some((e) => e.type === 'recognition')).toBe(true);
    // Named people are enrolled ones; no face pixels in any event.
    for (const e of emitted) if ('identity' in e && e.identity) expect(['alex-lacamoire', 'lin-manuel-miranda']).toContain(e.identity.personId);
    for (const e of emitted) expect(e).not.toHaveProperty('face');
    // At 10 fps the preliminary model still recognizes Lin-Manuel Miranda (see docs/capture.md); Alex Lacamoire stays below the threshold.
    expect(recognized).toContain('Lin-Manuel Miranda');
  });

  test('a camera that never opens reports camera_offline and error while another camera and sink keep working; stop() ends every track', async () => {
    const gallery = new InMemoryGallery({ threshold: CLIP_MATCH_THRESHOLD });
    await enrollFromImages(engine, gallery, enrollEntries());
    const garbage = join(tempDir(), 'garbage.mp4');
    writeFileSync(garbage, Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251)));
    const events: JetfaceEvent[] = [];
    const failing: EventSink = {
      publish: () => Promise.reject(new Error('sink down')),
      close: async () => {},
    };
    let hung = 0;
    const hanging: EventSink = {
      publish: () => {
        hung++;
        return new Promise(() => {});
      },
      close: async () => {},
    };
    const pipeline = await Pipeline.create({
      engine,
      gallery,
      device: DEVICE,
      sinks: [failing, callbackSink(DEVICE, (e) => void events.push(e)), hanging],
      cameras: [
        { id: 'broken', source: garbage },
        { id: 'good', source: CLIP, sourceOptions: { maxFps: 10 } },
      ],
    });
    const sinkErrors: string[] = [];
    pipeline.on('sink_error', (e) => sinkErrors.push(e.event.id));
    await pipeline.start();
    // Stop in the middle of the clip, while the good camera has tracks open.
    await until(() => pipeline.stats()[1]!.frames >= 30 && events.some((e) => e.camera === 'good' && e.type === 'recognition'), 60_000, 'the good camera to recognize a face');
    const stopping = Date.now();
    await pipeline.stop({ drainTimeoutMs: 500 });
    expect(Date.now() - stopping).toBeLessThan(5000); // the hanging sink did not hang stop()
    const [broken, good] = pipeline.stats();
    console.log(`two cameras: ${JSON.stringify({ broken: { ...broken, source: undefined }, good: { ...good, source: undefined } })}`);

    const brokenEvents = events.filter((e) => e.camera === 'broken');
    // One error (not repeated by the failed iteration), then offline.
    expect(brokenEvents.map((e) => e.type)).toEqual(['error', 'camera_offline']);
    expect(brokenEvents.find((e) => e.type === 'error')).toMatchObject({ error: { code: 'E_CAMERA_OPEN' } });
    expect(brokenEvents.some((e) => e.type === 'camera_online')).toBe(false);
    expect(broken).toMatchObject({ state: 'failed', frames: 0 });

    const goodEvents = events.filter((e) => e.camera === 'good');
    expect(good).toMatchObject({ state: 'stopped', frameErrors: 0 });
    expect(good!.frames).toBeGreaterThanOrEqual(30);
    expect(good!.frames).toBeLessThan(90);
    expect(goodEvents[0]).toMatchObject({ type: 'camera_online' });
    expect(goodEvents.at(-1)).toMatchObject({ type: 'camera_offline', reason: 'stopped' });
    checkTracks(goodEvents);
    // The failing sink failed every event; the other sink got every one.
    for (const e of events) expect(validateEvent(e)).toMatchObject({ ok: true });
    expect(sinkErrors).toEqual(events.map((e) => e.id));
    expect(broken!.sinkErrors + good!.sinkErrors).toBe(events.length);
    // The hanging sink holds its first event per camera; the rest wait behind it, not in front of the others.
    expect(hung).toBe(2);
  });

  test('a failed frame is an error event and the camera goes on; a closed engine ends its camera; a missing backend is reported at start', async () => {
    const gallery = new InMemoryGallery({ threshold: CLIP_MATCH_THRESHOLD });
    let photoFrames = 0;
    const flaky = {
      detect: async (frame: Frame) => {
        if (frame.cameraId === 'closed') throw new EngineClosedError();
        if (frame.cameraId === 'photos' && ++photoFrames === 1) throw new Error('boom');
        return engine.detect(frame);
      },
    };
    const events: JetfaceEvent[] = [];
    // An opened source is used as it is (its listeners may be attached by the caller too).
    const photos = await openFrameSource(dataPath('video', 'enroll'), { cameraId: 'photos' });
    const pipeline = await Pipeline.create({
      engine: flaky,
      gallery,
      device: DEVICE,
      sinks: [callbackSink(DEVICE, (e) => void events.push(e))],
      frameErrorIntervalMs: 0,
      cameras: [
        { id: 'photos', source: photos },
        { id: 'closed', source: CLIP, sourceOptions: { maxFps: 10 } },
        { id: 'nobackend', source: { backend: 'ffmpeg', input: CLIP, ffmpegPath: '/nonexistent/ffmpeg' } },
      ],
    });
    await pipeline.start();
    await pipeline.finished();
    const stats = Object.fromEntries(pipeline.stats().map((s) => [s.camera, s]));
    const types = (camera: string) => events.filter((e) => e.camera === camera).map((e) => e.type);

    expect(stats['photos']).toMatchObject({ state: 'ended', frames: 2, frameErrors: 1 });
    expect(stats['photos']!.faces).toBeGreaterThan(0);
    expect(types('photos')).toEqual(['camera_online', 'error', 'camera_offline']);
    expect(events.find((e) => e.camera === 'photos' && e.type === 'error')).toMatchObject({ error: { code: 'E_PIPELINE', message: expect.stringMatching(/boom/) } });

    expect(stats['closed']).toMatchObject({ state: 'failed', frames: 1, frameErrors: 1 });
    expect(types('closed')).toEqual(['camera_online', 'error', 'camera_offline']);
    expect(events.find((e) => e.camera === 'closed' && e.type === 'error')).toMatchObject({ error: { code: 'E_ENGINE_CLOSED' } });

    expect(stats['nobackend']).toMatchObject({ state: 'failed', frames: 0, source: null });
    expect(types('nobackend')).toEqual(['error', 'camera_offline']);
    expect(events.find((e) => e.camera === 'nobackend' && e.type === 'error')).toMatchObject({ error: { code: 'E_CAPTURE_BACKEND_UNAVAILABLE' } });
    for (const e of events) expect(validateEvent(e)).toMatchObject({ ok: true });
  });

  test('create() rejects bad options with InvalidArgumentError naming the field', async () => {
    const gallery = new InMemoryGallery();
    const base = { engine, gallery, device: DEVICE, sinks: [], cameras: [{ id: 'a', source: CLIP }] };
    await expect(Pipeline.create({ ...base, device: 'bad/device' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringMatching(/options\.device/) });
    await expect(Pipeline.create({ ...base, cameras: [] })).rejects.toMatchObject({ message: expect.stringMatching(/options\.cameras/) });
    await expect(Pipeline.create({ ...base, cameras: [{ id: 'a', source: CLIP }, { id: 'a', source: CLIP }] })).rejects.toMatchObject({ message: expect.stringMatching(/cameras\[1\]\.id/) });
    await expect(Pipeline.create({ ...base, trackerOptions: { minIou: 2 } })).rejects.toMatchObject({ message: expect.stringMatching(/minIou/) });
  });
});
