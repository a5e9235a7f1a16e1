/**
 * `jetface doctor` as a real subprocess against the default bundle and the embedded broker (run
 * in this process, so the CLI is spawned asynchronously), then with a corrupt bundle and an
 * unreachable broker; `runDoctor` in process for device configurations and gallery files.
 */
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadBundle } from '../sdk/bundle/load-bundle';
import { mqttConnectionOptions } from '../sdk/app/mqtt-connection';
import { parseDeviceConfig } from '../sdk/config/load';
import { checkOutbox } from '../sdk/doctor/checks';
import { runDoctor, type DoctorCheck, type DoctorReport } from '../sdk/doctor/doctor';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import { startEmbeddedBroker, type EmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { tempDir } from './support/data';
import { freePorts } from './support/mosquitto';

const PROJECT_ROOT = resolve(__dirname, '..');
const BUNDLE = join(PROJECT_ROOT, 'models', 'jetface-s');
const TSX = require.resolve('tsx/cjs');

async function doctor(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--require', TSX, 'sdk/cli/main.ts', 'doctor', ...args], { cwd: PROJECT_ROOT, timeout: 60_000, env: { ...process.env, JETFACE_MQTT_URL: '' } });
    return { status: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw error;
    return { status: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function byName(report: DoctorReport): Record<string, DoctorCheck> {
  return Object.fromEntries(report.checks.map((c) => [c.name, c]));
}

describe('jetface doctor', () => {
  let broker: EmbeddedBroker;
  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterAll(async () => {
    await broker.close();
  });

  test('a healthy machine: bundle, cpu provider, backends, broker, outbox and gallery are ok; exit 0', async () => {
    const dir = tempDir();
    const r = await doctor('--bundle', BUNDLE, '--mqtt', broker.url, '--outbox-dir', join(dir, 'outbox'), '--gallery', join(dir, 'gallery.db'), '--json');
    if (r.status !== 0) throw new Error(`doctor exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
    const report = JSON.parse(r.stdout) as DoctorReport;
    const c = byName(report);
    expect(report.ok).toBe(true);
    expect(report.checks.filter((x) => x.status === 'fail')).toEqual([]);
    expect(c['bundle']).toMatchObject({ status: 'ok', message: expect.stringContaining('checksums match') });
    expect(c['provider:cpu']).toMatchObject({ status: 'ok' });
    // Every provider is reported; one that cannot load says why and how to fix it.
    for (const p of ['tensorrt', 'cuda']) {
      const check = c[`provider:${p}`]!;
      expect(['ok', 'warn']).toContain(check.status);
      if (check.status === 'warn') expect(check).toMatchObject({ message: expect.stringMatching(/E_PROVIDER_UNAVAILABLE/), fix: expect.stringContaining('docs/jetson.md') });
    }
    for (const b of ['backend:ffmpeg', 'backend:gstreamer', 'backend:opencv', 'cameras:v4l2']) expect(c[b]).toBeDefined();
    expect(c['broker']).toMatchObject({ status: 'ok', message: `${broker.url} accepts connections` });
    expect(c['outbox']!.message).toMatch(/MiB free for an outbox of at most 64 MiB/);
    expect(c['gallery']).toMatchObject({ status: 'ok', message: expect.stringContaining('created at the first run') });
    for (const x of report.checks) if (x.status !== 'ok') expect(x.fix).toEqual(expect.any(String));
  });

  test('a corrupt bundle and an unreachable broker fail with the reason and the fix; exit 1', async () => {
    const bundle = join(tempDir(), 'jetface-s');
    cpSync(BUNDLE, bundle, { recursive: true });
    const model = readFileSync(join(bundle, 'model.onnx'));
    model[model.length - 10] = model[model.length - 10]! ^ 0xff;
    writeFileSync(join(bundle, 'model.onnx'), model);
    const [port] = await freePorts(1);
    const r = await doctor('--bundle', bundle, '--mqtt', `mqtt://127.0.0.1:${port}`, '--timeout-ms', '3000');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}bundle +.*E_MODEL_CHECKSUM/m);
    expect(r.stdout).toMatch(/fix: a model file differs from its manifest/);
    expect(r.stdout).toMatch(/^FAIL {2}broker +mqtt:\/\/127\.0\.0\.1:\d+: E_MQTT_CONNECT: .*ECONNREFUSED/m);
    expect(r.stdout).toMatch(/fix: is the broker running/);
    // The providers are not tried on a bundle that does not load.
    expect(r.stdout).not.toMatch(/provider:cpu/);
    expect(r.stderr).toMatch(/E_DOCTOR_FAILED: 2 required checks failed: bundle, broker/);
  });

  test('a missing bundle folder and a bad flag value are named', async () => {
    const r = await doctor('--bundle', join(tempDir(), 'nope'), '--json');
    expect(r.status).toBe(1);
    expect((JSON.parse(r.stdout) as DoctorReport).checks[0]).toMatchObject({ name: 'bundle', status: 'fail', message: expect.stringContaining('E_BUNDLE_NOT_FOUND') });
    const bad = await doctor('--timeout-ms', 'soon');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/E_INVALID_ARGUMENT.*--timeout-ms/);
  });
});

describe('runDoctor with a device configuration and gallery files', () => {
  test('a valid configuration is checked as a whole: its cameras, backends, embedded broker port, outbox and gallery', async () => {
    const dir = tempDir();
    const [port] = await freePorts(1);
    writeFileSync(
      join(dir, 'device.yaml'),
      [
        'device: { id: doctor-test }',
        'cameras:',
        '  - { id: door, source: { kind: file, path: clip.mp4 } }',
        '  - { id: usb, source: { kind: v4l2, device: /dev/video42 } }',
        `mqtt: { embedded: true, embeddedPort: ${port} }`,
        'outbox: { dir: data/outbox, maxBytes: 1048576 }',
        'gallery: { path: data/gallery.db }',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'clip.mp4'), 'not checked beyond existing');
    const report = await runDoctor({ config: join(dir, 'device.yaml'), env: {} });
    const c = byName(report);
    expect(c['config']).toMatchObject({ status: 'ok', message: expect.stringContaining('device doctor-test, 2 cameras') });
    expect(c['camera:door']).toMatchObject({ status: 'ok' });
    expect(c['camera:usb']).toMatchObject({ status: 'fail', message: 'v4l2: /dev/video42 does not exist', fix: expect.stringContaining('/dev/video') });
    expect(c['broker']).toMatchObject({ status: 'ok', message: `embedded broker: 127.0.0.1:${port} is free to listen on` });
    expect(c['outbox']).toMatchObject({ status: 'ok', message: expect.stringContaining('at most 1 MiB') });
    expect(report.ok).toBe(false);
  });

  test('an invalid configuration fails on its own with every path named; a corrupt gallery file fails; the embedded port in use fails', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), 'device: { id: "has space" }\ncameras: []\nmetrics: { port: 99999 }\n');
    const invalid = await runDoctor({ config: join(dir, 'bad.yaml') });
    expect(invalid.ok).toBe(false);
    expect(invalid.checks).toHaveLength(1);
    expect(invalid.checks[0]).toMatchObject({ name: 'config', status: 'fail', fix: expect.stringContaining('docs/config.md') });
    expect(invalid.checks[0]!.message).toMatch(/device\.id/);
    expect(invalid.checks[0]!.message).toMatch(/cameras/);
    expect(invalid.checks[0]!.message).toMatch(/metrics\.port/);

    const garbage = join(dir, 'gallery.db');
    writeFileSync(garbage, Buffer.alloc(8192, 7));
    const withGallery = await runDoctor({ bundle: BUNDLE, gallery: garbage, env: {} });
    expect(byName(withGallery)['gallery']).toMatchObject({ status: 'fail', message: expect.stringContaining('E_GALLERY_CORRUPT'), fix: expect.stringContaining('backup') });
    expect(readFileSync(garbage)).toEqual(Buffer.alloc(8192, 7)); // read-only: left as it was

    const broker = await startEmbeddedBroker({ port: 0 });
    try {
      const port = Number(new URL(broker.url).port);
      writeFileSync(join(dir, 'busy.yaml'), `device: { id: d1 }\ncameras: [{ id: c, source: { kind: rtsp, url: "rtsp://cam.local/s" } }]\nmqtt: { embedded: true, embeddedPort: ${port} }\n`);
      const busy = await runDoctor({ config: join(dir, 'busy.yaml'), env: {} });
      expect(byName(busy)['broker']).toMatchObject({ status: 'fail', message: expect.stringContaining('EADDRINUSE'), fix: expect.stringContaining('mqtt.embeddedPort') });
      expect(byName(busy)['camera:c']).toMatchObject({ status: 'ok', message: 'rtsp: not probed (network)' });
    } finally {
      await broker.close();
    }
  });

  test('an enrolled gallery is ok for its bundle, and a warning for a bundle whose embeddings it lacks', async () => {
    const { manifest } = await loadBundle(BUNDLE);
    const unit = (dim: number): Float32Array => Float32Array.from({ length: dim }, (_, i) => (i === 0 ? 1 : 0));
    const file = join(tempDir(), 'gallery.db');
    const own = SqliteGallery.open(file, { modelId: embeddingSpaceId(manifest) });
    own.upsertPerson({ personId: 'ada', name: 'Ada' });
    own.addEmbeddings('ada', [{ embedding: unit(manifest.embeddingDim) }]);
    own.close();
    const good = byName(await runDoctor({ bundle: BUNDLE, gallery: file, env: {} }))['gallery'];
    expect(good).toMatchObject({ status: 'ok', message: `${file}: 1 people, 1 embeddings for ${embeddingSpaceId(manifest)}` });

    const other = join(tempDir(), 'other.db');
    const foreign = SqliteGallery.open(other, { modelId: 'another-model:000000000000' });
    foreign.upsertPerson({ personId: 'ada', name: 'Ada' });
    foreign.addEmbeddings('ada', [{ embedding: unit(manifest.embeddingDim) }]);
    foreign.close();
    const stale = byName(await runDoctor({ bundle: BUNDLE, gallery: other, env: {} }))['gallery'];
    expect(stale).toMatchObject({ status: 'warn', message: expect.stringContaining('re-enroll'), fix: expect.stringContaining('enroll these people again') });
  });
});

describe('doctor checks that must not throw, and the connection it shares with the device', () => {
  test('a file system that cannot report its free space fails the outbox check with the reason', async () => {
    // The module object itself (an `import *` is a copy under swc), which checks.ts reads at each call.
    const fsPromises = require('node:fs/promises') as typeof import('node:fs/promises');
    const statfs = jest.spyOn(fsPromises, 'statfs').mockRejectedValue(Object.assign(new Error('function not implemented'), { code: 'ENOSYS' }));
    try {
      const dir = tempDir();
      await expect(checkOutbox(dir)).resolves.toMatchObject({ name: 'outbox', status: 'fail', message: expect.stringContaining('cannot read the free space'), fix: expect.stringContaining('outbox.dir') });
      expect((await checkOutbox(dir)).message).toContain('ENOSYS');
    } finally {
      statfs.mockRestore();
    }
  });

  test('the broker check uses the device\'s own connection options: TLS files, username and the password variable', async () => {
    const config = parseDeviceConfig({
      device: { id: 'd1' },
      cameras: [{ id: 'c', source: { kind: 'v4l2' } }],
      mqtt: { url: 'mqtts://broker.local:8883', username: 'dev', passwordEnv: 'JF_TEST_PW', keepaliveSeconds: 15, tls: { caFile: '/etc/ca.pem', rejectUnauthorized: false } },
    });
    await expect(mqttConnectionOptions(config, config.mqtt.url!, 'd.yaml', { JF_TEST_PW: 'pw' })).resolves.toEqual({
      url: 'mqtts://broker.local:8883',
      env: {},
      keepaliveSeconds: 15,
      username: 'dev',
      password: 'pw',
      tls: { rejectUnauthorized: false, caFile: '/etc/ca.pem' },
    });
    const dir = tempDir();
    writeFileSync(join(dir, 'tls.yaml'), 'device: { id: d1 }\ncameras: [{ id: c, source: { kind: rtsp, url: "rtsp://cam.local/s" } }]\nmqtt: { url: "mqtts://127.0.0.1:1", passwordEnv: JF_TEST_PW }\n');
    const unset = byName(await runDoctor({ config: join(dir, 'tls.yaml'), env: {}, brokerTimeoutMs: 500 }))['broker'];
    expect(unset).toMatchObject({ status: 'fail', message: expect.stringContaining('JF_TEST_PW is not set') });
  });
});
