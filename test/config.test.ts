/**
 * The device configuration: defaults, the mapping of each camera kind onto a FrameSourceSpec,
 * many bad configurations (each issue naming its dotted path, the expected value and what was
 * found), YAML syntax errors with line and column, relative paths, the shipped example, and the
 * generated reference docs/config.md being up to date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cameraSourceSpec } from '../sdk/app/camera-source';
import { readSecret } from '../sdk/app/secrets';
import { validateSourceSpec } from '../sdk/capture/validate-spec';
import { configReferenceMarkdown } from '../sdk/config/docs';
import { defaultBundleDir, loadDeviceConfig, parseDeviceConfig } from '../sdk/config/load';
import { ConfigError, type ConfigIssue } from '../sdk/errors';
import { tempDir } from './support/data';

const ROOT = resolve(__dirname, '..');
const minimal = (extra: Record<string, unknown> = {}) => ({ device: { id: 'door-1' }, cameras: [{ id: 'door', source: { kind: 'v4l2' } }], ...extra });

function issuesOf(value: unknown): ConfigIssue[] {
  try {
    parseDeviceConfig(value, 'test.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('E_CONFIG_INVALID');
    expect((error as ConfigError).message).toContain('test.yaml');
    return (error as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('parseDeviceConfig: defaults', () => {
  test('a minimal configuration gets every default', () => {
    const c = parseDeviceConfig(minimal());
    expect(c.cameras[0]).toEqual({ id: 'door', source: { kind: 'v4l2', device: '/dev/video0' }, queueSize: 1, openTimeoutMs: 15_000, stallTimeoutMs: 10_000 });
    expect(c.mqtt).toMatchObject({ embedded: true, topicPrefix: 'jetface', qos: 1 });
    expect(c.model).toEqual({ bundle: 'models/jetface-s', providers: ['tensorrt', 'cuda', 'cpu'], threads: 1, inputSize: 'auto' });
    expect(c.gallery).toEqual({ path: 'gallery.db', margin: 0.05, keepFaceImages: false });
    expect(c.outbox).toEqual({ dir: 'jetface-data', maxEvents: 10_000, maxBytes: 64 * 1024 * 1024 });
    expect(c.commands.enabled).toBe(false);
    expect(c.metrics).toEqual({ enabled: false, host: '127.0.0.1', port: 9464 });
    expect(c.logging).toEqual({ level: 'info', format: 'json' });
    expect(c.privacy.faceImages).toBe(false);
    expect(c.homeAssistant).toEqual({ enabled: false, discoveryPrefix: 'homeassistant' });
  });

  test('a configured broker turns the embedded one off', () => {
    const c = parseDeviceConfig(minimal({ mqtt: { url: 'mqtts://broker.local:8883', username: 'd', passwordEnv: 'MQTT_PW' } }));
    expect(c.mqtt).toMatchObject({ embedded: false, url: 'mqtts://broker.local:8883', passwordEnv: 'MQTT_PW' });
  });
});

describe('parseDeviceConfig: bad configurations name the path, the expected value and what was found', () => {
  const cases: [string, unknown, Partial<ConfigIssue> & { path: string }, RegExp][] = [
    ['not an object', 'hello', { path: '', expected: 'object' }, /found "hello"/],
    ['no device', { cameras: [{ id: 'a', source: { kind: 'v4l2' } }] }, { path: 'device', expected: 'object' }, /nothing \(required\)/],
    ['bad device id', { ...minimal(), device: { id: 'door 1' } }, { path: 'device.id' }, /1-64 characters/],
    ['no cameras', { ...minimal(), cameras: [] }, { path: 'cameras', expected: 'items >= 1' }, /found an array of 0/],
    ['unknown top-level key', minimal({ camera: [] }), { path: 'camera', expected: 'no such key' }, /unknown key "camera"/],
    ['unknown nested key', minimal({ gallery: { treshold: 0.5 } }), { path: 'gallery.treshold', expected: 'no such key' }, /unknown key/],
    ['unknown source kind', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'webcam' } }] }, { path: 'cameras[0].source.kind' }, /one of file, rtsp, v4l2, csi, usb, images, opencv.*found "webcam"/],
    ['rtsp with an http URL', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' } }, { id: 'b', source: { kind: 'rtsp', url: 'http://cam/x' } }] }, { path: 'cameras[1].source.url' }, /rtsp:\/\/.*found "http:\/\/cam\/x"/],
    ['file without path', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'file' } }] }, { path: 'cameras[0].source.path', expected: 'string' }, /nothing \(required\)/],
    ['a key of another kind', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2', url: 'rtsp://x' } }] }, { path: 'cameras[0].source.url', expected: 'no such key' }, /unknown key/],
    ['fps 0', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' }, fps: 0 }] }, { path: 'cameras[0].fps', expected: '> 0' }, /found 0/],
    ['fps too high', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' }, fps: 1000 }] }, { path: 'cameras[0].fps', expected: '<= 240' }, /found 1000/],
    ['fps as a string', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' }, fps: '10' }] }, { path: 'cameras[0].fps', expected: 'number' }, /found "10"/],
    ['width without height', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' }, width: 640 }] }, { path: 'cameras[0].height' }, /go together/],
    ['duplicate camera ids', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' } }, { id: 'a', source: { kind: 'csi' } }] }, { path: 'cameras[1].id' }, /used twice/],
    ['bad v4l2 device', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2', device: '/dev/sda' } }] }, { path: 'cameras[0].source.device' }, /\/dev\/video0.*found "\/dev\/sda"/],
    ['negative opencv index', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'opencv', input: -1 } }] }, { path: 'cameras[0].source.input', expected: '>= 0' }, /found -1/],
    ['opencv input of neither form', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'opencv', input: {} } }] }, { path: 'cameras[0].source.input', expected: 'one of number, string' }, /found an object/],
    ['reconnect: true (neither false nor a policy)', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' }, reconnect: true }] }, { path: 'cameras[0].reconnect' }, /^expected false, or an object with any of initialDelayMs, maxDelayMs, factor, jitter, maxAttempts, found true$/],
    ['a reconnect policy out of range', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'v4l2' }, reconnect: { factor: 20 } }] }, { path: 'cameras[0].reconnect.factor', expected: '<= 10' }, /found 20/],
    ['csi sensor out of range', { ...minimal(), cameras: [{ id: 'a', source: { kind: 'csi', sensorId: 9 } }] }, { path: 'cameras[0].source.sensorId', expected: '<= 7' }, /found 9/],
    ['threshold above 1', minimal({ gallery: { threshold: 1.5 } }), { path: 'gallery.threshold', expected: '<= 1' }, /found 1.5/],
    ['unknown provider', minimal({ model: { providers: ['cpu', 'rocm'] } }), { path: 'model.providers[1]' }, /"tensorrt", "cuda", "cpu".*found "rocm"/],
    ['an input size of neither form', minimal({ model: { inputSize: 'huge' } }), { path: 'model.inputSize' }, /found "huge"/],
    ['TensorRT workspace too small', minimal({ model: { tensorrt: { workspaceMb: 8 } } }), { path: 'model.tensorrt.workspaceMb', expected: '>= 16' }, /found 8/],
    ['no broker url and not embedded', minimal({ mqtt: { embedded: false } }), { path: 'mqtt.url' }, /required unless mqtt.embedded/],
    ['both embedded and url', minimal({ mqtt: { embedded: true, url: 'mqtt://x:1883' } }), { path: 'mqtt.url' }, /not both/],
    ['a broker url of another scheme', minimal({ mqtt: { url: 'http://broker' } }), { path: 'mqtt.url' }, /mqtt:\/\/.*found "http:\/\/broker"/],
    ['tls with the embedded broker', minimal({ mqtt: { embedded: true, tls: { caFile: 'ca.pem' } } }), { path: 'mqtt.tls' }, /not to the embedded one/],
    ['a client certificate without its key', minimal({ mqtt: { url: 'mqtts://b:8883', tls: { certFile: 'c.pem' } } }), { path: 'mqtt.tls.keyFile' }, /go together/],
    ['qos 2', minimal({ mqtt: { embedded: true, qos: 2 } }), { path: 'mqtt.qos', expected: 'one of 1' }, /found 2/],
    ['a password in the file', minimal({ mqtt: { url: 'mqtt://x', password: 'hunter2' } }), { path: 'mqtt.password', expected: 'no such key' }, /unknown key/],
    ['bad env variable name', minimal({ mqtt: { url: 'mqtt://x', passwordEnv: 'MY-PW' } }), { path: 'mqtt.passwordEnv' }, /environment variable name/],
    ['commands without a secret', minimal({ commands: { enabled: true, allowedClients: ['b'] } }), { path: 'commands.secretFile' }, /exactly one of secretFile or secretEnv/],
    ['commands without clients', minimal({ commands: { enabled: true, secretEnv: 'S' } }), { path: 'commands.allowedClients' }, /at least one allowed client/],
    ['a client key without its secret', minimal({ commands: { enabled: true, clients: { console: {} } } }), { path: 'commands.clients.console.secretFile' }, /exactly one of secretFile or secretEnv/],
    ['a client key given twice', minimal({ commands: { enabled: true, clients: { console: { secretEnv: 'A', secretFile: 'k' } } } }), { path: 'commands.clients.console.secretFile' }, /exactly one of secretFile or secretEnv/],
    ['a client with its own key also under allowedClients', minimal({ commands: { enabled: true, secretEnv: 'S', allowedClients: ['console'], clients: { console: { secretEnv: 'C' } } } }), { path: 'commands.allowedClients' }, /"console" has its own key.*remove it from allowedClients/],
    ['outbox maxEvents 0', minimal({ outbox: { maxEvents: 0 } }), { path: 'outbox.maxEvents', expected: '>= 1' }, /found 0/],
    ['metrics port out of range', minimal({ metrics: { enabled: true, port: 70000 } }), { path: 'metrics.port', expected: '<= 65535' }, /found 70000/],
    ['a fractional port', minimal({ metrics: { port: 80.5 } }), { path: 'metrics.port', expected: 'int' }, /found 80.5/],
    ['log level', minimal({ logging: { level: 'verbose' } }), { path: 'logging.level' }, /"info".*found "verbose"/],
    ['log format', minimal({ logging: { format: 'xml' } }), { path: 'logging.format' }, /"json", "pretty".*found "xml"/],
    ['privacy flag as a string', minimal({ privacy: { faceImages: 'no' } }), { path: 'privacy.faceImages', expected: 'boolean' }, /found "no"/],
    ['topic prefix with an empty level', minimal({ mqtt: { embedded: true, topicPrefix: 'site//door' } }), { path: 'mqtt.topicPrefix' }, /empty levels.*found "site\/\/door"/],
    ['home assistant prefix with a trailing slash', minimal({ homeAssistant: { enabled: true, discoveryPrefix: 'homeassistant/' } }), { path: 'homeAssistant.discoveryPrefix' }, /found "homeassistant\/"/],
    ['home assistant prefix with a wildcard', minimal({ homeAssistant: { enabled: true, discoveryPrefix: 'ha/#' } }), { path: 'homeAssistant.discoveryPrefix' }, /topic prefix.*found "ha\/#"/],
  ];

  test.each(cases)('%s', (_name, value, expected, message) => {
    const issues = issuesOf(value);
    const issue = issues.find((i) => i.path === expected.path);
    expect({ paths: issues.map((i) => i.path), found: issue !== undefined }).toEqual({ paths: expect.arrayContaining([expected.path]), found: true });
    expect(issue).toMatchObject(expected);
    expect(issue!.message).toMatch(message);
  });

  test('every problem is reported at once, not only the first', () => {
    const issues = issuesOf({ device: { id: '' }, cameras: [{ id: 'a', source: { kind: 'rtsp' } }], logging: { level: 'x' }, extra: 1 });
    expect(issues.map((i) => i.path).sort()).toEqual(['cameras[0].source.url', 'device.id', 'extra', 'logging.level']);
  });
});

describe('loadDeviceConfig: YAML files', () => {
  test('a YAML syntax error names the line and column', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'device:\n  id: door-1\ncameras:\n  - id: door\n    source: { kind: v4l2\n');
    const error = (await loadDeviceConfig(file).catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues[0]!.expected).toBe('valid YAML');
    expect(error.issues[0]!.message).toMatch(/YAML syntax error at line \d+, column \d+/);
    expect(error.message).toContain(file);
  });

  test('a duplicated key is a YAML error', async () => {
    const file = join(tempDir(), 'dup.yaml');
    writeFileSync(file, 'device: { id: a }\ndevice: { id: b }\ncameras: [{ id: c, source: { kind: v4l2 } }]\n');
    const error = (await loadDeviceConfig(file).catch((e: unknown) => e)) as ConfigError;
    expect(error.issues[0]!.message).toMatch(/line 2, column 1.*unique/i);
  });

  test('a missing file is a ConfigError naming it', async () => {
    const error = (await loadDeviceConfig('/nonexistent/device.yaml').catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/\/nonexistent\/device.yaml[\s\S]*cannot read/);
  });

  test('schema errors from a file carry the file name and the path', async () => {
    const file = join(tempDir(), 'device.yaml');
    writeFileSync(file, 'device: { id: a }\ncameras:\n  - id: c\n    source: { kind: rtsp, url: "http://cam" }\n');
    const error = (await loadDeviceConfig(file).catch((e: unknown) => e)) as ConfigError;
    expect(error.issues.map((i) => i.path)).toEqual(['cameras[0].source.url']);
    expect(error.message).toContain(file);
  });

  test('relative paths are resolved against the file; the default bundle is the shipped one', async () => {
    const dir = tempDir();
    const file = join(dir, 'device.yaml');
    writeFileSync(file, 'device: { id: a }\ncameras:\n  - { id: c, source: { kind: file, path: clips/door.mp4 } }\n  - { id: d, source: { kind: images, dir: /abs/images } }\ngallery: { path: data/g.db }\n');
    const c = await loadDeviceConfig(file);
    expect(c.cameras[0]!.source).toMatchObject({ kind: 'file', path: join(dir, 'clips', 'door.mp4') });
    expect(c.cameras[1]!.source).toMatchObject({ kind: 'images', dir: '/abs/images' });
    expect(c.gallery.path).toBe(join(dir, 'data', 'g.db'));
    expect(c.outbox.dir).toBe(join(dir, 'jetface-data'));
    expect(c.model.bundle).toBe(defaultBundleDir());
    expect(defaultBundleDir()).toBe(join(ROOT, 'models', 'jetface-s'));
  });

  test('an opencv input that is a relative file is resolved against the file; indexes, URLs and GStreamer pipelines are left as they are', async () => {
    const dir = tempDir();
    const file = join(dir, 'device.yaml');
    const inputs = ['clips/door.mp4', 'frames/img_%03d.jpg', '/abs/clip.mp4', 2, '0', 'rtsp://cam.local/s', 'videotestsrc ! videoconvert ! appsink'];
    writeFileSync(file, `device: { id: a }\ncameras:\n${inputs.map((input, i) => `  - { id: c${i}, source: { kind: opencv, input: ${JSON.stringify(input)} } }\n`).join('')}`);
    const c = await loadDeviceConfig(file);
    expect(c.cameras.map((cam) => cam.source.kind === 'opencv' && cam.source.input)).toEqual([join(dir, 'clips', 'door.mp4'), join(dir, 'frames', 'img_%03d.jpg'), ...inputs.slice(2)]);
  });

  test('examples/multi-camera.yaml is valid: three cameras of three kinds, each a valid source spec', async () => {
    const c = await loadDeviceConfig(join(ROOT, 'examples', 'multi-camera.yaml'));
    expect(c.cameras.map((cam) => cam.source.kind)).toEqual(['csi', 'rtsp', 'v4l2']);
    const specs = c.cameras.map(cameraSourceSpec).map(validateSourceSpec);
    expect(specs.map((s) => s.backend)).toEqual(['gstreamer', 'gstreamer', 'ffmpeg']);
    expect(specs[0]).toMatchObject({ cameraId: 'entrance', maxFps: 10, live: true });
    expect(specs[0]!.backend === 'gstreamer' && specs[0]!.pipeline).toContain('nvarguscamerasrc sensor-id=0');
    expect(specs[0]!.backend === 'gstreamer' && specs[0]!.pipeline).toContain('width=1280,height=720');
    expect(specs[1]!.backend === 'gstreamer' && specs[1]!.pipeline).toContain('rtspsrc location="rtsp://192.168.1.20:554/stream1"');
    expect(specs[2]).toMatchObject({ backend: 'ffmpeg', input: '/dev/video1', inputFormat: 'v4l2', inputOptions: ['-input_format', 'mjpeg'], maxFps: 8 });
    expect(c.model.bundle).toBe(join(ROOT, 'models', 'jetface-s'));
    expect(c.mqtt).toMatchObject({ embedded: false, passwordEnv: 'JETFACE_MQTT_PASSWORD' });
    expect(c.gallery.threshold).toBeUndefined(); // the bundle's match threshold, not a stale lower one
  });
});

describe('camera sources', () => {
  test.each([
    [{ kind: 'file', path: '/v/clip.mp4' }, { backend: 'ffmpeg', input: '/v/clip.mp4', live: false, realtime: false }],
    [{ kind: 'file', path: '/v/clip.mp4', backend: 'gstreamer' }, { backend: 'gstreamer', live: false }],
    [{ kind: 'rtsp', url: 'rtsp://cam/s' }, { backend: 'ffmpeg', input: 'rtsp://cam/s', live: true, inputOptions: ['-rtsp_transport', 'tcp'] }],
    [{ kind: 'usb', device: '/dev/video2', mjpeg: true }, { backend: 'gstreamer', live: true }],
    [{ kind: 'images', dir: '/imgs', loop: true }, { backend: 'images', dir: '/imgs', loop: true }],
    [{ kind: 'opencv', input: 0 }, { backend: 'opencv', input: 0 }],
  ])('%j maps onto a valid FrameSourceSpec', (source, expected) => {
    const c = parseDeviceConfig({ device: { id: 'd' }, cameras: [{ id: 'cam', source, fps: 5 }] });
    const spec = validateSourceSpec(cameraSourceSpec(c.cameras[0]!));
    expect(spec).toMatchObject({ ...expected, cameraId: 'cam', maxFps: 5 });
  });
});

describe('secrets', () => {
  test('from a file (newline trimmed) or an environment variable; missing ones name the key', async () => {
    const file = join(tempDir(), 'secret');
    writeFileSync(file, 's3cret-s3cret-s3cret\n');
    await expect(readSecret({ file }, 'commands.secretFile', 'd.yaml')).resolves.toBe('s3cret-s3cret-s3cret');
    await expect(readSecret({ env: 'JF_T' }, 'commands.secretEnv', 'd.yaml', { JF_T: 'abc' })).resolves.toBe('abc');
    const unset = (await readSecret({ env: 'JF_UNSET' }, 'mqtt.passwordEnv', 'd.yaml', {}).catch((e: unknown) => e)) as ConfigError;
    expect(unset).toBeInstanceOf(ConfigError);
    expect(unset.issues[0]).toMatchObject({ path: 'mqtt.passwordEnv', message: 'JF_UNSET is not set' });
    const missing = (await readSecret({ file: '/nonexistent/s' }, 'commands.secretFile', 'd.yaml').catch((e: unknown) => e)) as ConfigError;
    expect(missing.issues[0]!.path).toBe('commands.secretFile');
  });
});

describe('docs/config.md', () => {
  test('is the one generated from the schema (run npm run -s docs:config after changing the schema)', () => {
    const committed = readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8');
    expect(committed).toBe(configReferenceMarkdown());
  });

  test('documents every top-level section and every source kind', () => {
    const md = configReferenceMarkdown();
    for (const key of ['device', 'cameras', 'model', 'gallery', 'tracking', 'mqtt', 'outbox', 'commands', 'metrics', 'logging', 'privacy', 'homeAssistant']) expect(md).toContain(`## \`${key}\``);
    for (const kind of ['file', 'rtsp', 'v4l2', 'csi', 'usb', 'images', 'opencv']) expect(md).toContain(`#### \`kind: ${kind}\``);
    expect(md).toContain('| `cameras[].fps` | number > 0, ≤ 240 |');
  });
});
