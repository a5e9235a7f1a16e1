/**
 * The device configuration: one strict zod schema (unknown keys refused, every number bounded,
 * defaults filled in). docs/config.md is generated from it by scripts/gen-config-docs.ts.
 */
import { z } from 'zod';
import { EXECUTION_PROVIDERS } from '../engine/providers';
import { TENSORRT_LIMITS } from '../engine/tensorrt-options';

const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Up to 128 characters of `/`-separated levels, none empty (what assertTopicPrefix accepts, narrowed to safe characters). */
const TOPIC_PREFIX = /^(?=.{1,128}$)[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_.-]+)*$/;

const id = (what: string) => z.string().regex(ID, `${what}: 1-64 characters from [A-Za-z0-9_.-], not starting with . or -`);
const path = (what: string) => z.string().min(1).max(4096).describe(what);
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const topicPrefix = (what: string) => z.string().regex(TOPIC_PREFIX, what);
const envName = z.string().regex(ENV_NAME, 'an environment variable name ([A-Za-z_][A-Za-z0-9_]*)');
const cosine = (what: string) => z.number().min(-1).max(1).describe(what);
const ms = (what: string, max = 3_600_000) => int(0, max).describe(`${what} (milliseconds)`);

const reconnectPolicy = z.strictObject({
  initialDelayMs: ms('delay before the first retry').optional(),
  maxDelayMs: ms('upper bound of the delay').optional(),
  factor: z.number().min(1).max(10).optional().describe('growth per failed attempt'),
  jitter: z.number().min(0).max(1).optional().describe('random spread as a fraction of the delay'),
  maxAttempts: int(0, 1_000_000).optional().describe('attempts before giving up (default: unlimited)'),
});
// `reconnect: true` matches neither form: the message names both (the loader reports it as is).
const reconnect = z.union([z.literal(false), reconnectPolicy], {
  error: (issue) => (issue.code === 'invalid_union' ? `false, or an object with any of ${Object.keys(reconnectPolicy.shape).join(', ')}` : undefined),
});

/** Where a camera's frames come from; each kind maps onto one FrameSourceSpec backend. */
const source = z.discriminatedUnion('kind', [
  z
    .strictObject({
      kind: z.literal('file'),
      path: path('video file (FFmpeg)'),
      realtime: z.boolean().default(false).describe('read at the native frame rate, like a camera'),
      backend: z.enum(['ffmpeg', 'gstreamer']).default('ffmpeg'),
    })
    .describe('A video file, decoded by FFmpeg (or GStreamer decodebin).'),
  z
    .strictObject({
      kind: z.literal('rtsp'),
      url: z.url({ protocol: /^rtsps?$/, error: 'an rtsp:// or rtsps:// URL' }).max(2048),
      backend: z.enum(['ffmpeg', 'gstreamer']).default('ffmpeg').describe('gstreamer decodes in hardware on a Jetson'),
      codec: z.enum(['h264', 'h265']).default('h264').describe('GStreamer only'),
      latencyMs: int(0, 10_000).default(200).describe('GStreamer jitter buffer'),
      tcp: z.boolean().default(true).describe('RTP over TCP (GStreamer)'),
    })
    .describe('An RTSP camera.'),
  z
    .strictObject({
      kind: z.literal('v4l2'),
      device: z.string().regex(/^\/dev\/video\d{1,3}$/, 'a device such as /dev/video0').default('/dev/video0'),
      inputFormat: z.enum(['mjpeg', 'yuyv422', 'h264']).optional().describe("the camera's pixel format (FFmpeg -input_format)"),
    })
    .describe('A V4L2 (USB/UVC) camera through FFmpeg.'),
  z
    .strictObject({
      kind: z.literal('csi'),
      sensorId: int(0, 7).default(0),
      captureWidth: int(16, 16384).default(1920),
      captureHeight: int(16, 16384).default(1080),
      captureFps: int(1, 240).default(30),
      flipMethod: int(0, 7).default(0),
    })
    .describe('A Jetson CSI camera (GStreamer nvarguscamerasrc).'),
  z
    .strictObject({
      kind: z.literal('usb'),
      device: z.string().regex(/^\/dev\/video\d{1,3}$/, 'a device such as /dev/video0').default('/dev/video0'),
      mjpeg: z.boolean().default(false).describe('ask the camera for MJPEG'),
      captureFps: int(1, 240).optional(),
    })
    .describe('A USB camera through GStreamer v4l2src.'),
  z
    .strictObject({
      kind: z.literal('images'),
      dir: path('folder of images, read in natural name order'),
      loop: z.boolean().default(false),
    })
    .describe('A folder of images.'),
  z
    .strictObject({
      kind: z.literal('opencv'),
      input: z.union([int(0, 64), z.string().min(1).max(4096)]).describe('device index, file or URL'),
    })
    .describe('OpenCV VideoCapture (optional @u4/opencv4nodejs).'),
]);

const camera = z.strictObject({
  id: id('camera id'),
  source,
  fps: z.number().gt(0).max(240).optional().describe('frame-rate cap'),
  width: int(16, 16384).optional().describe('output width (with height)'),
  height: int(16, 16384).optional().describe('output height (with width)'),
  backpressure: z.enum(['latest', 'wait']).optional().describe('default: latest for live sources, wait for files and folders'),
  queueSize: int(1, 64).default(1),
  reconnect: reconnect.optional().describe('retry policy, or false (default: on for live sources)'),
  openTimeoutMs: ms('first frame wait').default(15_000),
  stallTimeoutMs: ms('stall detection, 0 = off').default(10_000),
});

const tensorrt = z.strictObject({
  fp16: z.boolean().optional(),
  int8: z.boolean().optional(),
  deviceId: int(...TENSORRT_LIMITS.deviceId).optional(),
  workspaceMb: int(...TENSORRT_LIMITS.workspaceMb).optional(),
  dlaCore: int(...TENSORRT_LIMITS.dlaCore).optional(),
  builderOptimizationLevel: int(...TENSORRT_LIMITS.builderOptimizationLevel).optional(),
  cacheRoot: path('engine cache root (default ~/.cache/jetface/tensorrt)').optional(),
});

const model = z.strictObject({
  bundle: path('model bundle folder').default('models/jetface-s'),
  providers: z.array(z.enum(EXECUTION_PROVIDERS as [string, ...string[]])).min(1).max(3).default(['tensorrt', 'cuda', 'cpu']),
  threads: int(0, 256).default(1).describe('CPU intra-op threads (0 = onnxruntime decides)'),
  minScore: z.number().min(0).max(1).optional().describe("minimum face score (default: the bundle's)"),
  inputSize: z
    .union([z.enum(['bundle', 'frame', 'auto']), int(32, 8192)])
    .default('auto')
    .describe("'auto' looks again, larger (up to 2x a small frame), when the first pass finds faces too small to name (bundles with a dynamic input; otherwise as 'bundle'); 'bundle' letterboxes every frame into the bundle's input, at a fixed cost; 'frame' (or a longest side in px) feeds large frames at their own resolution"),
  tensorrt: tensorrt.optional(),
});

const gallery = z.strictObject({
  path: path('SQLite gallery file').default('gallery.db'),
  threshold: cosine("match threshold (default: the bundle's)").optional(),
  margin: z.number().min(0).max(1).default(0.05).describe('least gap to the runner-up, else ambiguous'),
  keepFaceImages: z.boolean().default(false).describe('store enrolled face crops'),
});

const tracking = z.strictObject({
  iouWeight: z.number().min(0).max(1).optional(),
  minIou: z.number().min(0).max(1).optional(),
  minCosine: cosine('pairs less similar never associate').optional(),
  reidCosine: cosine('re-identify a lost track without overlap').optional(),
  confirmHits: int(1, 100).optional(),
  maxLostMs: ms('a track unseen for longer ends (never less than two frame intervals of the camera)', 600_000).optional(),
  embeddingUpdate: z.number().min(0).max(1).optional(),
  vote: z
    .strictObject({
      goodFaceSize: z.number().min(1).max(4096).optional(),
      decideShare: z.number().min(0).max(1).optional(),
      minEvidence: z.number().min(0).max(1000).optional(),
      minMatchedFraction: z.number().min(0).max(1).optional(),
      firmShare: z.number().min(0).max(1).optional(),
      firmEvidence: z.number().min(0).max(1000).optional(),
      unknownWeight: z.number().min(0).max(10).optional(),
      unknownEvidence: z.number().min(0).max(1000).optional(),
    })
    .optional(),
});

const mqtt = z
  .strictObject({
    embedded: z.boolean().default(false).describe('start an in-process broker (aedes) instead of connecting to url'),
    embeddedPort: int(0, 65_535).default(1883).describe('port of the embedded broker (0 = any free one)'),
    embeddedHost: z.string().min(1).max(255).default('127.0.0.1'),
    url: z.url({ protocol: /^(mqtts?|wss?)$/, error: 'an mqtt://, mqtts://, ws:// or wss:// URL' }).max(2048).optional(),
    username: z.string().min(1).max(256).optional(),
    passwordEnv: envName.optional().describe('name of the environment variable holding the password'),
    passwordFile: path('file holding the password').optional(),
    tls: z
      .strictObject({
        caFile: path('CA certificate (PEM)').optional(),
        certFile: path('client certificate (PEM)').optional(),
        keyFile: path('client key (PEM)').optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .optional(),
    topicPrefix: topicPrefix('topic levels without +, #, spaces or empty levels').default('jetface'),
    qos: z.literal(1).default(1).describe('events are published at QoS 1 (at least once, through the outbox)'),
    keepaliveSeconds: int(1, 3600).default(30),
    reportSeconds: int(0, 3600).default(5).describe('publish a retained report of the cameras (state, fps) on `<prefix>/<device>/report` this often, for the fleet console; 0 = never'),
  })
  .refine((m) => m.embedded || m.url !== undefined, { message: 'mqtt.url is required unless mqtt.embedded is true', path: ['url'] })
  .refine((m) => !(m.embedded && m.url !== undefined), { message: 'give either mqtt.embedded: true or mqtt.url, not both', path: ['url'] })
  .refine((m) => !(m.passwordEnv && m.passwordFile), { message: 'give passwordEnv or passwordFile, not both', path: ['passwordFile'] })
  .refine((m) => !(m.embedded && m.tls), { message: 'tls applies to a broker given by mqtt.url, not to the embedded one', path: ['tls'] })
  .refine((m) => !m.tls?.certFile === !m.tls?.keyFile, { message: 'a client certificate and its key go together', path: ['tls', 'keyFile'] });

const outbox = z.strictObject({
  dir: path('folder of the durable event outbox').default('jetface-data'),
  maxEvents: int(1, 10_000_000).default(10_000),
  maxBytes: int(1024, 16 * 1024 ** 3).default(64 * 1024 * 1024),
});

const commandClientKey = z
  .strictObject({
    secretFile: path("file holding this client's own HMAC key (>= 16 bytes)").optional(),
    secretEnv: envName.optional().describe('name of the environment variable holding that key'),
  })
  .refine((k) => Boolean(k.secretFile) !== Boolean(k.secretEnv), { message: 'a client key needs exactly one of secretFile or secretEnv', path: ['secretFile'] });

const clientId = z.string().min(1).max(128);

const commands = z
  .strictObject({
    enabled: z.boolean().default(false),
    secretFile: path('file holding the shared HMAC secret of allowedClients (>= 16 bytes)').optional(),
    secretEnv: envName.optional().describe('name of the environment variable holding the shared secret'),
    allowedClients: z.array(clientId).max(1000).default([]).describe('clients that sign with the shared secret (any holder of it can claim any of these ids)'),
    clients: z
      .record(clientId, commandClientKey)
      .default({})
      .describe("clients with their own key, by client id: `{ secretFile }` or `{ secretEnv }` each; a command claiming one of these ids verifies only with that client's key"),
    revoked: z.array(clientId).max(1000).default([]).describe('client ids refused whatever they sign with; nobody else is re-keyed'),
    maxSkewMs: ms('clock skew allowed', 600_000).default(30_000),
    maxPayloadBytes: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024).describe('largest command accepted, bytes (enroll carries base64 photos)'),
    maxImages: int(1, 100).default(10).describe('most photos in one enroll command'),
  })
  .refine((c) => !(c.secretFile && c.secretEnv), { message: 'give the shared secret as secretFile or secretEnv, not both', path: ['secretEnv'] })
  .refine((c) => !c.enabled || c.allowedClients.length === 0 || Boolean(c.secretFile || c.secretEnv), { message: 'allowedClients sign with the shared secret: give exactly one of secretFile or secretEnv (or move them to clients, each with its own key)', path: ['secretFile'] })
  .refine((c) => !c.enabled || c.allowedClients.length > 0 || Object.keys(c.clients).length > 0, { message: 'enabled commands need at least one allowed client: allowedClients (with the shared secret) or clients (each with its own key)', path: ['allowedClients'] })
  .refine((c) => Object.keys(c.clients).length <= 1000, { message: 'at most 1000 clients', path: ['clients'] })
  .superRefine((c, ctx) => {
    for (const id of c.allowedClients) {
      if (Object.hasOwn(c.clients, id)) ctx.addIssue({ code: 'custom', path: ['allowedClients'], message: `client ${JSON.stringify(id)} has its own key in commands.clients: remove it from allowedClients, or the shared secret would still sign for it`, input: id });
    }
  });

const metrics = z.strictObject({
  enabled: z.boolean().default(false),
  host: z.string().min(1).max(255).default('127.0.0.1'),
  port: int(0, 65_535).default(9464),
});

const logging = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  format: z.enum(['json', 'pretty']).default('json'),
});

const privacy = z.strictObject({
  faceImages: z.boolean().default(false).describe('include face crops in events (off: no biometric image leaves the device)'),
});

const homeAssistant = z.strictObject({
  enabled: z.boolean().default(false),
  discoveryPrefix: topicPrefix('an MQTT topic prefix without empty levels').default('homeassistant'),
});

const consoleSection = z
  .strictObject({
    enabled: z.boolean().default(false).describe('serve the device console (web pages: live view, events, unknown faces, people, status)'),
    host: z.string().min(1).max(255).default('127.0.0.1').describe('address to listen on (127.0.0.1: this machine only)'),
    port: int(0, 65_535).default(8088).describe('0 = any free port'),
    passwordHashFile: path('file holding the scrypt hash written by `jetface console passwd`').optional(),
    passwordHashEnv: envName.optional().describe('name of the environment variable holding that hash'),
    tls: z.strictObject({ certFile: path('server certificate (PEM)'), keyFile: path('its private key (PEM)') }).optional(),
    sessionTtlMinutes: int(1, 7 * 24 * 60).default(12 * 60).describe('a session ends this long after login'),
    loginAttemptsPerMinute: int(1, 1000).default(5).describe('login attempts per client address per minute'),
    maxUploadBytes: int(1024, 64 * 1024 * 1024).default(8 * 1024 * 1024).describe('largest uploaded photo, bytes'),
    maxUploadFiles: int(1, 100).default(10).describe('most photos in one upload'),
    unknownClusters: int(1, 1000).default(50).describe('unknown-face groups kept in memory (the oldest go first)'),
    clusterCosine: cosine("tracks at least this similar are one stranger (default: the gallery's threshold)").optional(),
  })
  .refine((c) => !(c.passwordHashFile && c.passwordHashEnv), { message: 'give passwordHashFile or passwordHashEnv, not both', path: ['passwordHashEnv'] })
  .refine((c) => !c.enabled || Boolean(c.passwordHashFile || c.passwordHashEnv), { message: 'an enabled console needs passwordHashFile or passwordHashEnv (`jetface console passwd`)', path: ['passwordHashFile'] });

/** The zod schema of a device configuration file. */
export const deviceConfigSchema = z
  .strictObject({
    device: z.strictObject({ id: id('device id') }),
    cameras: z.array(camera).min(1).max(64),
    model: model.prefault({}),
    gallery: gallery.prefault({}),
    tracking: tracking.prefault({}),
    mqtt: mqtt.prefault({ embedded: true }),
    outbox: outbox.prefault({}),
    commands: commands.prefault({}),
    metrics: metrics.prefault({}),
    logging: logging.prefault({}),
    privacy: privacy.prefault({}),
    homeAssistant: homeAssistant.prefault({}),
    console: consoleSection.prefault({}),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.cameras.forEach((cam, i) => {
      if (seen.has(cam.id)) ctx.addIssue({ code: 'custom', path: ['cameras', i, 'id'], message: `camera id ${JSON.stringify(cam.id)} used twice`, input: cam.id });
      seen.add(cam.id);
      if ((cam.width === undefined) !== (cam.height === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['cameras', i, cam.width === undefined ? 'width' : 'height'], message: 'width and height go together', input: undefined });
      }
    });
  });

/** A device configuration as written (defaults optional). */
export type DeviceConfigInput = z.input<typeof deviceConfigSchema>;
/** A validated device configuration, defaults filled in. */
export type DeviceConfig = z.output<typeof deviceConfigSchema>;
/** One camera of a {@link DeviceConfig}. */
export type CameraConfig = DeviceConfig['cameras'][number];
/** The device console's section of a {@link DeviceConfig}. */
export type ConsoleConfig = DeviceConfig['console'];
/** A camera's source. */
export type CameraSourceConfig = CameraConfig['source'];
