/**
 * `jetface doctor`: is this machine ready to run the device? Bundle, execution providers, camera
 * backends, broker, outbox room, gallery file; from flags or from a device configuration.
 */
import { existsSync } from 'node:fs';
import type { ModelBundle } from '../bundle/load-bundle';
import { cameraSourceSpec } from '../app/camera-source';
import { mqttConnectionOptions } from '../app/mqtt-connection';
import type { CaptureBackend } from '../capture/types';
import { defaultBundleDir, loadDeviceConfig } from '../config/load';
import type { DeviceConfig } from '../config/schema';
import type { ExecutionProviderName } from '../engine/providers';
import type { TensorRtChoice } from '../engine/tensorrt-options';
import { ConfigError, errorMessage } from '../errors';
import { checkBroker, checkBundle, checkCameraBackends, checkEmbeddedBroker, checkGallery, checkOutbox, checkProviders, isJetson, type DoctorCheck } from './checks';

export type { CheckStatus, DoctorCheck } from './checks';

/** What to check; a flag overrides the configuration's value. */
export interface DoctorOptions {
  /** A device configuration (YAML) to check as a whole. */
  config?: string;
  /** Model bundle folder (default: the configuration's, else the bundled models/jetface-s). */
  bundle?: string;
  /** Broker URL to try (default: the configuration's, else `JETFACE_MQTT_URL` when set). */
  mqtt?: string;
  outboxDir?: string;
  gallery?: string;
  /** How long the broker may take to accept a connection. Default 5000 ms. */
  brokerTimeoutMs?: number;
  /** Environment for `JETFACE_MQTT_*` and password variables (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** The doctor's findings; `ok` is false when any check is `fail`. */
export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

/**
 * Runs every check that applies and returns the report (it never throws for a failing check).
 *
 * @example
 * ```ts
 * const report = await runDoctor({ config: '/etc/jetface/device.yaml' });
 * for (const c of report.checks) console.log(c.status, c.name, c.message, c.fix ?? '');
 * process.exitCode = report.ok ? 0 : 1;
 * ```
 */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const checks: DoctorCheck[] = [];
  let config: DeviceConfig | null = null;
  if (options.config !== undefined) {
    try {
      config = await loadDeviceConfig(options.config);
      checks.push({ name: 'config', status: 'ok', message: `${options.config}: valid (device ${config.device.id}, ${config.cameras.length} camera${config.cameras.length === 1 ? '' : 's'})` });
    } catch (error) {
      const issues = error instanceof ConfigError ? error.issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ') : errorMessage(error);
      checks.push({ name: 'config', status: 'fail', message: `${options.config}: ${issues}`, fix: 'correct each path named above (docs/config.md lists every key, its type and default)' });
      return { ok: false, checks };
    }
  }

  const bundleDir = options.bundle ?? config?.model.bundle ?? defaultBundleDir();
  const { check: bundleCheck, bundle } = await checkBundle(bundleDir);
  checks.push(bundleCheck);
  if (bundle) {
    const providers = (config?.model.providers as ExecutionProviderName[] | undefined) ?? undefined;
    checks.push(...(await checkProviders(bundleDir, providers, (config?.model.tensorrt as (TensorRtChoice & { cacheRoot?: string }) | undefined) ?? {})));
  }

  const required = new Set<CaptureBackend>();
  if (config) for (const camera of config.cameras) required.add(cameraSourceSpec(camera).backend);
  checks.push(...(await checkCameraBackends(required)));
  if (config) checks.push(...config.cameras.map(checkCameraInput));

  const broker = await brokerCheck(options, config, env);
  if (broker) checks.push(broker);

  const outboxDir = options.outboxDir ?? config?.outbox.dir;
  if (outboxDir !== undefined) checks.push(await checkOutbox(outboxDir, config?.outbox.maxBytes));
  const galleryPath = options.gallery ?? config?.gallery.path;
  if (galleryPath !== undefined) checks.push(await checkGallery(galleryPath, bundle as ModelBundle | null));
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

async function brokerCheck(options: DoctorOptions, config: DeviceConfig | null, env: NodeJS.ProcessEnv): Promise<DoctorCheck | null> {
  const timeout = options.brokerTimeoutMs ?? 5000;
  if (options.mqtt !== undefined) return checkBroker({ url: options.mqtt, env }, timeout);
  if (config?.mqtt.embedded) return checkEmbeddedBroker(config.mqtt.embeddedHost, config.mqtt.embeddedPort);
  if (config) {
    try {
      // What the device connects with (sdk/app/mqtt-connection.ts), the password read from `env`.
      const connection = await mqttConnectionOptions(config, config.mqtt.url!, options.config ?? 'configuration', env);
      return await checkBroker(connection, timeout);
    } catch (error) {
      return { name: 'broker', status: 'fail', message: errorMessage(error), fix: 'set the password variable or file named above for the service (systemd: Environment= or LoadCredential=)' };
    }
  }
  if (env['JETFACE_MQTT_URL']) return checkBroker({ env }, timeout);
  return null;
}

/** Files, folders and devices a camera names exist (network cameras are not probed). */
function checkCameraInput(camera: DeviceConfig['cameras'][number]): DoctorCheck {
  const name = `camera:${camera.id}`;
  const s = camera.source;
  const path = s.kind === 'file' ? s.path : s.kind === 'images' ? s.dir : s.kind === 'v4l2' || s.kind === 'usb' ? s.device : null;
  if (path !== null && !existsSync(path)) {
    const fix = s.kind === 'v4l2' || s.kind === 'usb' ? 'plug the camera in (ls /dev/video*), or correct cameras[].source.device' : `correct the camera's source path (${s.kind === 'file' ? 'source.path' : 'source.dir'})`;
    return { name, status: 'fail', message: `${s.kind}: ${path} does not exist`, fix };
  }
  if (s.kind === 'csi' && !isJetson()) return { name, status: 'warn', message: 'csi: not a Jetson (no /etc/nv_tegra_release); nvarguscamerasrc will not be found', fix: 'CSI cameras work only on a Jetson with JetPack; use v4l2, rtsp or file sources elsewhere' };
  return { name, status: 'ok', message: `${s.kind}${path ? `: ${path}` : s.kind === 'rtsp' ? ': not probed (network)' : ''}` };
}
