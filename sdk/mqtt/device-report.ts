/**
 * The device report: a small retained JSON on `<prefix>/<device>/report`, republished every few
 * seconds, saying what the device runs and how each camera is doing (state, fps, frames, faces).
 * Events say what a camera saw; the report says whether it is working, so that a fleet console
 * started after the device still sees every camera and its frame rate. No face data is in it.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { InvalidArgumentError } from '../errors';
import { DEFAULT_TOPIC_PREFIX, assertTopicLevel, assertTopicPrefix } from '../events/topics';
import { MqttConnection } from './connection';
import { resolveConnection, type MqttConnectionOptions } from './options';

/** One camera in a {@link DeviceReport}. */
export interface DeviceReportCamera {
  id: string;
  /** The pipeline's state of the camera (`running`, `reconnecting`, `failed`, ...). */
  state: string;
  fps: number;
  frames: number;
  faces: number;
}

/** The retained report of a device. */
export interface DeviceReport {
  reportVersion: 1;
  device: string;
  /** ISO 8601, when it was made. */
  time: string;
  /** Seconds between reports: a report older than about three of these is stale. */
  intervalSeconds: number;
  versions: Record<string, string>;
  model: { modelId: string; kind: string; precision: string; provider: string };
  galleryPeople: number;
  /** Whether the device takes signed commands (enroll, delete, rename, list). */
  commands: boolean;
  cameras: DeviceReportCamera[];
}

/**
 * `<prefix>/<device>/report`.
 *
 * @example
 * ```ts
 * reportTopic('jetface', 'jetson-1'); // 'jetface/jetson-1/report'
 * ```
 */
export function reportTopic(prefix: string, device: string): string {
  return `${prefix}/${device}/report`;
}

/** A report read from the broker, or null when the payload is not one (a fleet must not trust the wire blindly). */
export function parseDeviceReport(payload: Buffer | string): DeviceReport | null {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch {
    return null;
  }
  const r = value as Partial<DeviceReport> | null;
  if (!r || typeof r !== 'object' || r.reportVersion !== 1 || typeof r.device !== 'string' || typeof r.time !== 'string' || !Array.isArray(r.cameras)) return null;
  const cameras = r.cameras.filter((c): c is DeviceReportCamera => !!c && typeof c === 'object' && typeof c.id === 'string' && typeof c.state === 'string' && typeof c.fps === 'number');
  return {
    reportVersion: 1,
    device: r.device,
    time: r.time,
    intervalSeconds: typeof r.intervalSeconds === 'number' ? r.intervalSeconds : 5,
    versions: r.versions && typeof r.versions === 'object' ? r.versions : {},
    model: r.model && typeof r.model === 'object' ? r.model : { modelId: '?', kind: '?', precision: '?', provider: '?' },
    galleryPeople: typeof r.galleryPeople === 'number' ? r.galleryPeople : 0,
    commands: r.commands === true,
    cameras: cameras.map((c) => ({ id: c.id, state: c.state, fps: c.fps, frames: Number(c.frames) || 0, faces: Number(c.faces) || 0 })),
  };
}

/** Options of {@link DeviceReporter.create}. */
export interface DeviceReporterOptions extends MqttConnectionOptions {
  device: string;
  prefix?: string;
  /** Seconds between reports (default 5). */
  intervalSeconds?: number;
  /** Makes the report (called at each interval while connected). */
  collect: () => Omit<DeviceReport, 'reportVersion' | 'device' | 'time' | 'intervalSeconds'>;
}

/** Publishes a device's report, retained, at connect and then every interval. */
export class DeviceReporter {
  private timer: NodeJS.Timeout | undefined;
  private published = 0;

  private constructor(
    private readonly options: DeviceReporterOptions & { prefix: string; intervalSeconds: number },
    private readonly connection: MqttConnection,
  ) {
    connection.on('connect', (client) => void this.send(client));
    connection.on('error', () => undefined); // kept as connection.lastError; a report must not crash the device
    this.timer = setInterval(() => {
      const client = connection.current;
      if (client) void this.send(client);
    }, options.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Starts connecting; does not wait for the broker. */
  static async create(options: DeviceReporterOptions): Promise<DeviceReporter> {
    const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    assertTopicPrefix(prefix);
    assertTopicLevel('device', options.device);
    const intervalSeconds = options.intervalSeconds ?? 5;
    if (!(intervalSeconds > 0 && intervalSeconds <= 3600)) throw new InvalidArgumentError('intervalSeconds', 'seconds in (0, 3600]', intervalSeconds);
    const settings = await resolveConnection(options);
    const connection = new MqttConnection(settings, { clientId: `jetface-report-${options.device}-${randomBytes(4).toString('hex')}`, clean: true });
    const reporter = new DeviceReporter({ ...options, prefix, intervalSeconds }, connection);
    connection.start();
    return reporter;
  }

  /** Reports published since create(). */
  get count(): number {
    return this.published;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    // A last report, so the fleet sees the cameras stopped.
    await this.connection.close((client) => this.send(client));
  }

  private async send(client: MqttClient): Promise<void> {
    const report: DeviceReport = { reportVersion: 1, device: this.options.device, time: new Date().toISOString(), intervalSeconds: this.options.intervalSeconds, ...this.options.collect() };
    try {
      await client.publishAsync(reportTopic(this.options.prefix, this.options.device), JSON.stringify(report), { qos: 1, retain: true });
      this.published++;
    } catch {
      // disconnected: the next connect publishes again
    }
  }
}
