/**
 * The checks of `jetface doctor`. Each returns one or more {@link DoctorCheck}s: `ok`, `warn`
 * (works, but something is missing or worse than it could be) or `fail` (the device cannot run as
 * configured), with a concrete fix for anything that is not `ok`. No check throws.
 */
import { constants, existsSync, readdirSync } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { loadBundle, type ModelBundle } from '../bundle/load-bundle';
import { loadOpenCv } from '../capture/opencv';
import { requireExecutable } from '../capture/subprocess';
import type { CaptureBackend } from '../capture/types';
import { FaceEngine } from '../engine/face-engine';
import { EXECUTION_PROVIDERS, type ExecutionProviderName } from '../engine/providers';
import type { TensorRtChoice } from '../engine/tensorrt-options';
import { JetfaceError, errorMessage } from '../errors';
import { embeddingSpaceId } from '../gallery/model-id';
import { SqliteGallery } from '../gallery/sqlite-gallery';
import { MqttConnection } from '../mqtt/connection';
import { resolveConnection, type MqttConnectionOptions } from '../mqtt/options';
import { DEFAULT_OUTBOX_MAX_BYTES } from '../mqtt/outbox';

export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One line of the doctor's report. */
export interface DoctorCheck {
  /** e.g. `bundle`, `provider:tensorrt`, `backend:ffmpeg`, `broker`, `outbox`, `gallery`. */
  name: string;
  status: CheckStatus;
  message: string;
  /** What to do about it (absent when `ok`). */
  fix?: string;
}

const ok = (name: string, message: string): DoctorCheck => ({ name, status: 'ok', message });
const bad = (name: string, status: 'warn' | 'fail', message: string, fix: string): DoctorCheck => ({ name, status, message, fix });
const code = (error: unknown): string => (error instanceof JetfaceError ? `${error.code}: ` : '');

/** Whether this machine is a Jetson (L4T release file present). */
export function isJetson(): boolean {
  return existsSync('/etc/nv_tegra_release');
}

/** Loads the bundle with checksums; a bundle that does not load is a `fail`. */
export async function checkBundle(dir: string): Promise<{ check: DoctorCheck; bundle: ModelBundle | null }> {
  try {
    const bundle = await loadBundle(dir, { verifyChecksums: true });
    const m = bundle.manifest;
    return { check: ok('bundle', `${dir}: ${m.name} (${m.kind}, ${m.precision}, ${m.modelId}), checksums match`), bundle };
  } catch (error) {
    const c = error instanceof JetfaceError ? error.code : '';
    const fix =
      c === 'E_MODEL_CHECKSUM'
        ? 'a model file differs from its manifest: copy the bundle again (or reinstall jetface for the default one); never edit model files in place'
        : c === 'E_BUNDLE_NOT_FOUND'
          ? 'give the bundle folder (--bundle DIR or model.bundle in the configuration); the default is models/jetface-s inside the jetface package'
          : c === 'E_MANIFEST_INVALID'
            ? 'fix the manifest field named above, or rebuild the bundle with `jetface bundle joint|cascade`'
            : 'rebuild the bundle with `jetface bundle joint|cascade` (docs/bundles.md)';
    return { check: bad('bundle', 'fail', `${dir}: ${code(error)}${errorMessage(error)}`, fix), bundle: null };
  }
}

/**
 * Opens the bundle on each execution provider alone (no warm-up) and says which load and why the
 * others do not. No provider at all is a `fail`; a GPU provider missing is a `warn` (on a Jetson,
 * inference then runs on the CPU).
 */
export async function checkProviders(
  dir: string,
  wanted: readonly ExecutionProviderName[] = EXECUTION_PROVIDERS,
  tensorrt: TensorRtChoice & { cacheRoot?: string } = {},
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const jetson = isJetson();
  for (const provider of wanted) {
    const name = `provider:${provider}`;
    try {
      // With the run's TensorRT options, so that a prebuilt engine is found in its cache instead of built again (minutes).
      const engine = await FaceEngine.create(dir, { providers: [provider], warmup: false, verifyChecksums: false, ...(provider === 'tensorrt' ? { tensorrt } : {}) });
      await engine.close();
      checks.push(ok(name, `loads the bundle`));
    } catch (error) {
      // A ProviderUnavailableError says why per provider; that reason is the useful part.
      const attempts = error instanceof JetfaceError ? (error.details['attempts'] as { reason?: string }[] | undefined) : undefined;
      const why = attempts?.[0]?.reason ?? errorMessage(error);
      const reason = `${code(error)}${why}`.replace(/\s+/g, ' ').slice(0, 400);
      if (provider === 'cpu') checks.push(bad(name, 'fail', `cannot load the bundle: ${reason}`, 'reinstall onnxruntime-node (npm ci) and check that the bundle loads: `jetface detect --bundle DIR --providers cpu IMAGE`'));
      else {
        const fix = jetson
          ? 'install onnxruntime built with CUDA and TensorRT for Node over the npm binding (docs/jetson.md, steps 1-4), then check `ldd` of its provider libraries'
          : 'expected on a machine without an NVIDIA GPU (inference runs on the CPU); on a Jetson see docs/jetson.md';
        checks.push(bad(name, 'warn', `not available: ${reason}`, fix));
      }
    }
  }
  return checks;
}

const BACKEND_FIX: Record<'ffmpeg' | 'gstreamer', [string, string]> = {
  ffmpeg: ['ffmpeg', 'apt-get install -y ffmpeg'],
  gstreamer: ['gst-launch-1.0', 'apt-get install -y gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav (JetPack ships the nv* plugins)'],
};

/**
 * Which capture backends run here, and the V4L2 devices this user can open. A backend the
 * configuration uses (`required`) is a `fail` when missing; others are a `warn`.
 */
export async function checkCameraBackends(required: ReadonlySet<CaptureBackend> = new Set()): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  for (const backend of ['ffmpeg', 'gstreamer'] as const) {
    const [command, install] = BACKEND_FIX[backend];
    try {
      checks.push(ok(`backend:${backend}`, `${requireExecutable(command, install)}`));
    } catch {
      checks.push(bad(`backend:${backend}`, required.has(backend) ? 'fail' : 'warn', `${command} is not on PATH`, install));
    }
  }
  try {
    loadOpenCv();
    checks.push(ok('backend:opencv', '@u4/opencv4nodejs loads'));
  } catch (error) {
    checks.push(bad('backend:opencv', required.has('opencv') ? 'fail' : 'warn', `optional; ${errorMessage(error).split(' (')[0]}`, 'only for opencv: sources: apt-get install -y libopencv-dev, then OPENCV4NODEJS_DISABLE_AUTOBUILD=1 npm install @u4/opencv4nodejs (docs/jetson.md for GStreamer support)'));
  }
  checks.push(await checkVideoDevices());
  return checks;
}

async function checkVideoDevices(): Promise<DoctorCheck> {
  let devices: string[] = [];
  try {
    devices = readdirSync('/dev').filter((f) => /^video\d+$/.test(f)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5))).map((f) => `/dev/${f}`);
  } catch {
    // no /dev (not Linux): reported as no devices
  }
  if (devices.length === 0) return bad('cameras:v4l2', 'warn', 'no /dev/video* device', 'plug in a USB camera, or use CSI (csi://0), RTSP or files; in a container pass --device /dev/video0');
  const denied: string[] = [];
  for (const d of devices) {
    try {
      await access(d, constants.R_OK | constants.W_OK);
    } catch {
      denied.push(d);
    }
  }
  if (denied.length > 0) return bad('cameras:v4l2', 'warn', `${devices.join(', ')}; no read/write access to ${denied.join(', ')}`, 'add the user to the video group: sudo usermod -aG video $USER (log in again), or SupplementaryGroups=video in the systemd unit');
  return ok('cameras:v4l2', devices.join(', '));
}

/** Connects to the broker once, within `timeoutMs`; refused credentials or no answer are a `fail`. */
export async function checkBroker(options: MqttConnectionOptions, timeoutMs = 5000): Promise<DoctorCheck> {
  let url = options.url ?? '(default)';
  let connection: MqttConnection | undefined;
  try {
    const settings = await resolveConnection({ ...options, connectTimeoutMs: Math.min(options.connectTimeoutMs ?? timeoutMs, timeoutMs) });
    url = settings.url;
    const conn = new MqttConnection(settings, { clientId: `jetface-doctor-${process.pid}`, clean: true });
    connection = conn;
    conn.on('error', () => undefined); // later retries fail alike; only the first is reported
    await new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(conn.lastError ?? new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      conn.once('connect', () => {
        clearTimeout(timer);
        resolvePromise();
      });
      // The first failure decides; the connection's own retries are not the doctor's business.
      conn.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      conn.start();
    });
    return ok('broker', `${url} accepts connections`);
  } catch (error) {
    const c = error instanceof JetfaceError ? error.code : '';
    const fix =
      c === 'E_MQTT_AUTH'
        ? 'the broker refused the credentials: check mqtt.username and the password file/variable'
        : c === 'E_INPUT_FILE' || c === 'E_INVALID_ARGUMENT'
          ? 'fix the MQTT option named above (TLS files, password file, URL)'
          : `is the broker running and reachable from here? Try: mosquitto_sub -h <host> -p <port> -t '#' -C 1 -W 5; check firewalls, the port, and mqtts:// vs mqtt://`;
    return bad('broker', 'fail', `${url}: ${code(error)}${errorMessage(error)}`, fix);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** The embedded broker's port is free to listen on. */
export async function checkEmbeddedBroker(host: string, port: number): Promise<DoctorCheck> {
  const server = createServer();
  try {
    await new Promise<void>((resolvePromise, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolvePromise());
    });
    return ok('broker', `embedded broker: ${host}:${port} is free to listen on`);
  } catch (error) {
    return bad('broker', 'fail', `embedded broker: cannot listen on ${host}:${port} (${(error as NodeJS.ErrnoException).code ?? errorMessage(error)})`, 'another broker (mosquitto?) holds the port: use mqtt.url to connect to it, or set mqtt.embeddedPort');
  } finally {
    await new Promise((r) => server.close(r));
  }
}

/** The outbox folder is writable (or can be created) and its file system has room for `maxBytes`. */
export async function checkOutbox(dir: string, maxBytes = DEFAULT_OUTBOX_MAX_BYTES): Promise<DoctorCheck> {
  let existing = resolve(dir);
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  try {
    await access(existing, constants.W_OK);
  } catch {
    return bad('outbox', 'fail', `${dir}: ${existing === resolve(dir) ? 'not writable' : `cannot be created (${existing} is not writable)`} by this user`, `create it for the service user: sudo install -d -o jetface -g jetface ${resolve(dir)}`);
  }
  let free: number;
  try {
    const fs = await statfs(existing);
    free = fs.bavail * fs.bsize;
  } catch (error) {
    // A file system that cannot report its room (some FUSE or network mounts) is a finding, not a crash.
    return bad('outbox', 'fail', `${dir}: cannot read the free space of ${existing} (${(error as NodeJS.ErrnoException).code ?? errorMessage(error)})`, 'put outbox.dir on a local file system (ext4 on the Jetson\'s disk or SD card)');
  }
  const mb = (n: number): string => `${(n / 1024 ** 2).toFixed(0)} MiB`;
  if (free < maxBytes) return bad('outbox', 'fail', `${dir}: ${mb(free)} free, the outbox may grow to ${mb(maxBytes)}`, `free space on that file system, move outbox.dir to a larger one, or lower outbox.maxBytes below ${mb(free)}`);
  return ok('outbox', `${dir}: ${mb(free)} free for an outbox of at most ${mb(maxBytes)}`);
}

/** Opens an existing gallery file read-only (a missing one is created at the first run). */
export async function checkGallery(path: string, bundle: ModelBundle | null): Promise<DoctorCheck> {
  if (!existsSync(path)) {
    let parent = dirname(resolve(path));
    while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
    try {
      await access(parent, constants.W_OK);
      return ok('gallery', `${path} does not exist yet; it is created at the first run`);
    } catch {
      return bad('gallery', 'fail', `${path} does not exist and ${parent} is not writable`, `create its folder for the service user: sudo install -d -o jetface -g jetface ${dirname(resolve(path))}`);
    }
  }
  try {
    const modelId = bundle ? embeddingSpaceId(bundle.manifest) : 'unknown';
    const gallery = SqliteGallery.open(path, { modelId, readonly: true });
    try {
      const people = gallery.listPeople().length;
      const note = bundle && people > 0 && gallery.embeddingCount === 0 ? `; none has an embedding of ${modelId}: re-enroll them for this bundle` : '';
      return note
        ? bad('gallery', 'warn', `${path}: ${people} people${note}`, 'enroll these people again with this bundle (the gallery keeps embeddings per model)')
        : ok('gallery', `${path}: ${people} people, ${gallery.embeddingCount} embeddings for ${modelId}`);
    } finally {
      gallery.close();
    }
  } catch (error) {
    return bad('gallery', 'fail', `${path}: ${code(error)}${errorMessage(error)}`, 'restore the gallery file from a backup, or move it away to start an empty one (and enroll everyone again)');
  }
}
