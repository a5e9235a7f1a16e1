/**
 * startDevice end to end: hamilton_clip.mp4 (fps capped) through the default bundle, a SQLite
 * gallery file in a temporary folder (the clip's two people enrolled from their photos), the
 * embedded aedes broker and a JetfaceSubscriber; metrics on; `jetface run --config`; and a start
 * that fails half way closing every part it opened (port, outbox lock, gallery, engine).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { connectAsync } from 'mqtt';
import sharp from 'sharp';
import { startDevice } from '../sdk/app/start-device';
import { main } from '../sdk/cli/main';
import { parseDeviceConfig } from '../sdk/config/load';
import { FaceEngine } from '../sdk/engine/face-engine';
import { ConfigError, InvalidArgumentError } from '../sdk/errors';
import type { JetfaceEvent } from '../sdk/events/types';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import { loadImageFrame } from '../sdk/image/decode';
import { signCommand } from '../sdk/mqtt/command-auth';
import { EventOutbox } from '../sdk/mqtt/outbox';
import { JetfaceSubscriber } from '../sdk/mqtt/subscriber';
import { createLogger } from '../sdk/observability/logger';
import { CLIP, FFMPEG, childProcesses, describeWith } from './support/capture';
import { dataPath, tempDir, CLIP_MATCH_THRESHOLD } from './support/data';
import { until } from './support/events';

const BUNDLE = resolve(__dirname, '..', 'models', 'jetface-s');
const silent = createLogger({ level: 'silent' });
const SECRET = 'a-shared-secret-of-32-bytes-long';

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => ok(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const server = createServer();
    server.once('error', () => ok(false));
    server.listen(port, '127.0.0.1', () => server.close(() => ok(true)));
  });
}

/** Enrolls the clip's two people (video/enroll/<id>.png) into a SQLite gallery file. */
async function enrollClipPeople(galleryPath: string): Promise<void> {
  const engine = await FaceEngine.create(BUNDLE, { providers: ['cpu'] });
  const gallery = SqliteGallery.open(galleryPath, { modelId: embeddingSpaceId(engine.manifest), threshold: CLIP_MATCH_THRESHOLD });
  try {
    for (const [personId, name] of [['alex-lacamoire', 'Alex Lacamoire'], ['lin-manuel-miranda', 'Lin-Manuel Miranda']] as const) {
      const faces = await engine.detect(await loadImageFrame(dataPath('video', 'enroll', `${personId}.png`)));
      gallery.upsertPerson({ personId, name });
      gallery.addEmbeddings(personId, [{ embedding: faces[0]!.embedding, source: `${personId}.png` }]);
    }
  } finally {
    gallery.close();
    await engine.close();
  }
}

describeWith(FFMPEG)('startDevice: the Hamilton clip → SQLite gallery → embedded broker → subscriber', () => {
  afterAll(() => {
    expect(childProcesses('ffmpeg')).toEqual([]);
  });

  test('events reach a subscriber over the embedded broker; people in the SQLite gallery are named; commands, metrics and Home Assistant are wired; stop() closes everything', async () => {
    const dir = tempDir();
    const galleryPath = join(dir, 'gallery.db');
    await enrollClipPeople(galleryPath);
    const secretFile = join(dir, 'command-secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    const port = await freePort();
    const config = parseDeviceConfig({
      device: { id: 'stage-1' },
      cameras: [{ id: 'stage', source: { kind: 'file', path: CLIP }, fps: 10 }],
      model: { bundle: BUNDLE, providers: ['cpu'] },
      gallery: { path: galleryPath, threshold: CLIP_MATCH_THRESHOLD },
      mqtt: { embedded: true, embeddedPort: port },
      outbox: { dir: join(dir, 'outbox') },
      metrics: { enabled: true, port: 0 },
      commands: { enabled: true, secretFile: secretFile, allowedClients: ['backend-1'] },
      homeAssistant: { enabled: true },
    });
    // The subscriber must listen before the first event: start it on the broker as soon as it is up.
    const device = await startDevice(config, { log: silent });
    let subscriber: JetfaceSubscriber | null = null;
    try {
      expect(device.brokerUrl).toBe(`mqtt://127.0.0.1:${port}`);
      expect(device.gallery.listPeople().map((p) => p.personId).sort()).toEqual(['alex-lacamoire', 'lin-manuel-miranda']);
      subscriber = await JetfaceSubscriber.create({ url: device.brokerUrl, env: {} });
      const received: JetfaceEvent[] = [];
      subscriber.on('event', (e) => received.push(e));
      const emitted: JetfaceEvent[] = [];
      device.pipeline.on('event', (e) => emitted.push(e));
      await device.finished();
      await device.publisher.flush(10_000);
      await until(() => received.length >= emitted.length, 10_000, 'the subscriber to receive every event');

      const stats = device.stats();
      expect(stats.cameras[0]).toMatchObject({ camera: 'stage', state: 'ended', frameErrors: 0, sinkErrors: 0 });
      expect(stats.cameras[0]!.frames).toBeGreaterThanOrEqual(80);
      expect(stats.galleryPeople).toBe(2);
      expect(stats.publisher.connected).toBe(true);
      // Everything after the subscriber connected arrived, in order, on the device's topics.
      const ids = new Set(received.map((e) => e.id));
      const late = emitted.filter((e) => ids.has(e.id));
      expect(late.length).toBeGreaterThan(0);
      expect(received.map((e) => e.id)).toEqual(late.map((e) => e.id));
      expect(received.every((e) => e.device === 'stage-1' && e.camera === 'stage')).toBe(true);
      const named = received.flatMap((e) => ('identity' in e && e.identity ? [e.identity.name] : []));
      expect(named).toContain('Lin-Manuel Miranda');
      // The device's default inputSize 'auto' also names the 24-px Alex Lacamoire (issue 14's clip goal).
      expect(named).toContain('Alex Lacamoire');
      expect(received.at(-1)).toMatchObject({ type: 'camera_offline', reason: 'end of stream' });
      for (const e of received) expect(e).not.toHaveProperty('face'); // privacy.faceImages is off

      // The command channel answers a signed `list` with the gallery's people; Home Assistant's sensor is announced.
      const client = await connectAsync(device.brokerUrl);
      try {
        const messages: { topic: string; payload: string }[] = [];
        client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
        await client.subscribeAsync(['jetface/stage-1/commands/list/response', 'homeassistant/sensor/+/config'], { qos: 1 });
        const command = signCommand({ verb: 'list', clientId: 'backend-1', device: 'stage-1' }, SECRET);
        await client.publishAsync('jetface/stage-1/commands/list', JSON.stringify(command), { qos: 1 });
        await until(() => messages.some((m) => m.topic.endsWith('/response')) && messages.some((m) => m.topic.startsWith('homeassistant/')), 10_000, 'the command response and the discovery config');
        const response = JSON.parse(messages.find((m) => m.topic.endsWith('/response'))!.payload) as { id: string; ok: boolean; result: unknown };
        expect(response).toMatchObject({ id: command.id, ok: true });
        expect(JSON.stringify(response.result)).toContain('lin-manuel-miranda');
        expect(messages.find((m) => m.topic.startsWith('homeassistant/'))!.topic).toBe('homeassistant/sensor/stage-1_stage_last_person/config');
        expect(device.stats().commands).toMatchObject({ executed: 1, refused: 0 });

        // A signed `enroll` carrying a whole photo (more than the channel's own 256 KiB default) enrolls
        // through the quality gates: the configuration's commands.maxPayloadBytes applies.
        const photo = readFileSync(dataPath('video', 'enroll', 'lin-manuel-miranda.png'));
        await client.subscribeAsync('jetface/stage-1/commands/enroll/response', { qos: 1 });
        const enroll = signCommand({ verb: 'enroll', clientId: 'backend-1', device: 'stage-1', args: { personId: 'lmm-2', name: 'Lin-Manuel Miranda', images: [photo.toString('base64')] } }, SECRET);
        expect(JSON.stringify(enroll).length).toBeGreaterThan(256 * 1024);
        await client.publishAsync('jetface/stage-1/commands/enroll', JSON.stringify(enroll), { qos: 1 });
        await until(() => messages.some((m) => m.topic.endsWith('enroll/response')), 20_000, 'the enroll response');
        const enrolled = JSON.parse(messages.find((m) => m.topic.endsWith('enroll/response'))!.payload) as { ok: boolean; result: { enrolled: number } };
        expect(enrolled).toMatchObject({ ok: true, result: { enrolled: 1 } });
        expect(device.gallery.getPerson('lmm-2')).toMatchObject({ embeddings: 1 });
      } finally {
        await client.endAsync();
      }

      const metrics = await (await fetch(device.metricsUrl!)).text();
      expect(metrics).toMatch(/jetface_camera_frames_total\{[^}]*camera="stage"[^}]*\} [1-9]/);
    } finally {
      await subscriber?.close();
      await device.stop();
    }
    await device.stop(); // twice is fine
    // Closed: the broker's port is free, the outbox lock is released, the gallery file opens again.
    expect(await canListen(port)).toBe(true);
    const outbox = await EventOutbox.open({ path: join(dir, 'outbox', 'stage-1.outbox.jsonl') });
    expect(outbox.stats().depth).toBe(0);
    await outbox.close();
    const again = SqliteGallery.open(galleryPath, { modelId: 'jetface-s:any' });
    again.close();
  });

  test('a start that fails half way (command secret unset) closes the engine, broker, outbox and gallery it had opened', async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = parseDeviceConfig({
      device: { id: 'half' },
      cameras: [{ id: 'stage', source: { kind: 'file', path: CLIP }, fps: 5 }],
      model: { bundle: BUNDLE, providers: ['cpu'] },
      gallery: { path: join(dir, 'g.db') },
      mqtt: { embedded: true, embeddedPort: port },
      outbox: { dir },
      commands: { enabled: true, secretEnv: 'JETFACE_TEST_UNSET_SECRET', allowedClients: ['backend'] },
    });
    const workersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Worker' || r === 'MessagePort').length;
    const error = (await startDevice(config, { log: silent, source: 'half.yaml' }).catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues[0]).toMatchObject({ path: 'commands.secretEnv', message: 'JETFACE_TEST_UNSET_SECRET is not set' });
    expect(error.message).toContain('half.yaml');
    expect(await canListen(port)).toBe(true);
    const outbox = await EventOutbox.open({ path: join(dir, 'half.outbox.jsonl') }); // OutboxLockedError if still held
    await outbox.close();
    await until(() => process.getActiveResourcesInfo().filter((r) => r === 'Worker' || r === 'MessagePort').length <= workersBefore, 5000, 'the engine worker to exit');
    expect(childProcesses('ffmpeg')).toEqual([]);
  });

  test('stop() closes the publisher (final flush, disconnect) while its logging is still attached', async () => {
    const dir = tempDir();
    const images = join(dir, 'frames');
    mkdirSync(images);
    await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 40, g: 80, b: 120 } } }).jpeg().toFile(join(images, 'frame1.jpg'));
    const config = parseDeviceConfig({
      device: { id: 'order' },
      cameras: [{ id: 'still', source: { kind: 'images', dir: images } }],
      model: { bundle: BUNDLE, providers: ['cpu'] },
      gallery: { path: join(dir, 'g.db') },
      mqtt: { embedded: true, embeddedPort: 0 },
      outbox: { dir },
    });
    const device = await startDevice(config, { log: silent });
    const close = device.publisher.close.bind(device.publisher);
    let listenersAtClose = -1;
    jest.spyOn(device.publisher, 'close').mockImplementation(() => {
      listenersAtClose = device.publisher.listenerCount('error') + device.publisher.listenerCount('disconnect');
      return close();
    });
    await device.finished();
    await device.stop();
    expect(listenersAtClose).toBeGreaterThanOrEqual(2); // attachLogging's 'error' and 'disconnect' handlers
    expect(device.publisher.listenerCount('disconnect')).toBe(0); // and detached afterwards
  });

  test('a source given for a camera that is not configured is refused before anything starts', async () => {
    const config = parseDeviceConfig({ device: { id: 'x' }, cameras: [{ id: 'stage', source: { kind: 'file', path: CLIP } }], model: { bundle: BUNDLE } });
    const error = (await startDevice(config, { log: silent, sources: { stgae: {} as never } }).catch((e: unknown) => e)) as InvalidArgumentError;
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(/options\.sources\.stgae to be a configured camera id \(stage\)/);
  });

  test('jetface run --config runs the clip to its end and exits 0; a bad config exits 1 naming the path', async () => {
    const dir = tempDir();
    const file = writeRunConfig(dir, 'cli-run', []);
    expect(await main(['node', 'jetface', 'run', '--config', file])).toBe(0);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'device: { id: x }\ncameras: [{ id: c, source: { kind: rtsp, url: "ftp://cam" } }]\n');
    const stderr: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
    try {
      expect(await main(['node', 'jetface', 'run', '--config', bad])).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(stderr.join('')).toMatch(/E_CONFIG_INVALID[\s\S]*cameras\[0\]\.source\.url: expected an rtsp:\/\/ or rtsps:\/\/ URL, found "ftp:\/\/cam"/);
  });

  test('jetface run exits 1 naming the camera when a camera fails instead of ending (a supervisor restarts it)', async () => {
    const dir = tempDir();
    const file = writeRunConfig(dir, 'cli-fail', [`  - { id: gone, source: { kind: file, path: ${JSON.stringify(join(dir, 'missing.mp4'))} } }`]);
    const stderr: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
    try {
      expect(await main(['node', 'jetface', 'run', '--config', file])).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(stderr.join('')).toMatch(/E_CAMERAS_FAILED: camera gone failed/);
  });

  test('jetface run stops gracefully on SIGTERM: the endless camera goes offline, the outbox is flushed, exit 0', async () => {
    const dir = tempDir();
    const images = join(dir, 'frames');
    mkdirSync(images);
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 40, g: 80, b: 120 } } }).jpeg().toFile(join(images, 'frame1.jpg'));
    const file = join(dir, 'device.yaml');
    writeFileSync(
      file,
      [
        'device: { id: sigterm }',
        'cameras: [{ id: loop, source: { kind: images, dir: frames, loop: true }, fps: 5 }]',
        `model: { bundle: ${JSON.stringify(BUNDLE)}, providers: [cpu] }`,
        'mqtt: { embedded: true, embeddedPort: 0 }',
        'logging: { level: info, format: json }',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), resolve(__dirname, '..', 'sdk', 'cli', 'main.ts'), 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    await until(() => out.includes('"msg":"camera online"'), 30_000, 'the camera to come online');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err).toContain('SIGTERM: stopping');
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; reason?: string });
    const msgs = lines.map((l) => l.msg);
    expect(msgs.indexOf('device stopped')).toBeGreaterThan(msgs.indexOf('device started'));
    expect(lines.find((l) => l.msg === 'camera offline')).toMatchObject({ reason: 'stopped' });
    expect(out).not.toContain('events left in the outbox');
  }, 60_000);
});

/** A device.yaml in `dir` for `jetface run`: the clip as camera `stage` (4 fps), then `moreCameras` lines, the embedded broker, silent logs. */
function writeRunConfig(dir: string, device: string, moreCameras: string[]): string {
  const file = join(dir, 'device.yaml');
  const lines = [
    `device: { id: ${device} }`,
    'cameras:',
    `  - { id: stage, source: { kind: file, path: ${JSON.stringify(CLIP)} }, fps: 4 }`,
    ...moreCameras,
    `model: { bundle: ${JSON.stringify(BUNDLE)}, providers: [cpu] }`,
    'mqtt: { embedded: true, embeddedPort: 0 }',
    'logging: { level: silent }',
  ];
  writeFileSync(file, lines.join('\n'));
  return file;
}
