/**
 * The console's backend for every device on a broker (`jetface console --mqtt URL`): cameras from
 * the devices' retained reports, presence from their retained status, events from their event
 * topics, and people through the signed command channel (`list`, `enroll`, `rename`, `delete`),
 * signed with this console's own client key. Frames never travel over the broker, so the fleet
 * has no live pictures and no unknown-face crops: those stay on each device's own console.
 */
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { ConsoleError, JetfaceError, errorMessage } from '../errors';
import type { JetfaceEvent } from '../events/types';
import type { EnrollmentImage, EnrollmentOutcome, PersonEnrollment } from '../gallery/enroll';
import type { PersonRecord } from '../gallery/types';
import { CommandClient } from '../mqtt/command-client';
import { MqttConnection } from '../mqtt/connection';
import { parseDeviceReport, type DeviceReport } from '../mqtt/device-report';
import { resolveConnection, type MqttConnectionOptions } from '../mqtt/options';
import { JetfaceSubscriber } from '../mqtt/subscriber';
import { DEFAULT_TOPIC_PREFIX, assertTopicPrefix } from '../events/topics';
import { version } from '../../package.json';
import type { CameraView, ConsoleBackend, ConsolePersonInput, PersonView, StatusView } from './backend';
import { EventHub } from './event-hub';
import { LiveView } from './live-view';
import { UnknownFaces } from './unknown-faces';

/** Options of {@link FleetConsoleBackend.create}. */
export interface FleetBackendOptions extends MqttConnectionOptions {
  prefix?: string;
  /** The client id the console signs commands as (the devices list it under `commands.clients`). */
  clientId: string;
  /** The console's own key (the same file the devices name for this client). */
  key: Buffer | string;
  /** How long a device has to answer a command (default 15 s). */
  commandTimeoutMs?: number;
}

/** What the fleet knows of one device. */
export interface FleetDevice {
  id: string;
  status: 'online' | 'offline' | 'unknown';
  report: DeviceReport | null;
}

const LIST_TIMEOUT_MS = 5000;

/**
 * A {@link ConsoleBackend} over every device that publishes on the broker.
 *
 * @example
 * ```ts
 * const fleet = await FleetConsoleBackend.create({ url: 'mqtts://broker:8883', clientId: 'console', key: readFileSync('console.key') });
 * const server = await ConsoleServer.create({ backend: fleet, passwordHash, assetsDir: await consoleAssetsDir(), log });
 * ```
 */
export class FleetConsoleBackend implements ConsoleBackend {
  readonly device = 'fleet';
  readonly fleet = true;
  readonly events = new EventHub(500);
  /** Never fed: frames stay on the devices. */
  readonly live = new LiveView();
  /** Stays empty: events carry no face crops (unless a device sends them), so strangers are reviewed on each device. */
  readonly unknown = new UnknownFaces({ clusterCosine: 1 });
  private readonly known = new Map<string, FleetDevice>();
  private readonly latest = new Map<string, JetfaceEvent>();
  private readonly seenCameras = new Map<string, Set<string>>();

  private constructor(
    private readonly subscriber: JetfaceSubscriber,
    private readonly commands: CommandClient,
    private readonly reports: MqttConnection,
    private readonly brokerUrl: string,
  ) {
    subscriber.on('event', (e) => this.onEvent(e));
    subscriber.on('status', (s) => (this.entry(s.device).status = s.status));
    subscriber.on('error', () => undefined); // kept in stats().lastError
  }

  static async create(o: FleetBackendOptions): Promise<FleetConsoleBackend> {
    const prefix = o.prefix ?? DEFAULT_TOPIC_PREFIX;
    assertTopicPrefix(prefix);
    const { clientId: _signer, key, commandTimeoutMs, ...connection } = o;
    const settings = await resolveConnection(connection);
    const reports = new MqttConnection(settings, { clientId: `jetface-fleet-${randomBytes(4).toString('hex')}`, clean: true });
    let subscriber: JetfaceSubscriber | undefined;
    let commands: CommandClient | undefined;
    try {
      subscriber = await JetfaceSubscriber.create({ ...connection, prefix });
      commands = await CommandClient.create({ ...connection, prefix, clientId: o.clientId, key, ...(commandTimeoutMs ? { timeoutMs: commandTimeoutMs } : {}) });
    } catch (error) {
      await subscriber?.close();
      throw error;
    }
    const fleet = new FleetConsoleBackend(subscriber, commands, reports, settings.safeUrl);
    reports.on('client', (client) => client.on('message', (topic, payload) => fleet.onReport(topic, payload)));
    reports.on('connect', (client) => void client.subscribeAsync(`${prefix}/+/report`, { qos: 1 }).catch(() => undefined));
    reports.on('error', () => undefined);
    reports.start();
    return fleet;
  }

  /** Every device seen (status, report or event), sorted by id. */
  devices(): FleetDevice[] {
    return [...this.known.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  cameras(): CameraView[] {
    const out: CameraView[] = [];
    for (const d of this.devices()) {
      const reported = d.report?.cameras ?? [];
      const ids = new Set([...reported.map((c) => c.id), ...(this.seenCameras.get(d.id) ?? [])]);
      for (const id of [...ids].sort()) {
        const r = reported.find((c) => c.id === id);
        const last = this.latest.get(`${d.id}/${id}`);
        out.push({
          id,
          device: d.id,
          online: d.status === 'online' && (r ? r.state === 'running' : last?.type !== 'camera_offline'),
          state: d.status === 'offline' ? 'device offline' : (r?.state ?? 'unknown'),
          fps: r?.fps ?? 0,
          frames: r?.frames ?? 0,
          faces: r?.faces ?? 0,
          lastEvent: last ? { type: last.type, time: last.time, name: 'identity' in last && last.identity ? last.identity.name : null } : null,
        });
      }
    }
    return out;
  }

  /** Asks every device that takes commands for its people; one row per person, with the devices that hold them. */
  async listPeople(): Promise<PersonView[]> {
    const answers = await Promise.all(
      this.commandDevices().map(async (device) => {
        try {
          return { device, people: (await this.commands.send<{ people: PersonRecord[] }>(device, 'list', {}, LIST_TIMEOUT_MS)).people };
        } catch {
          return { device, people: [] as PersonRecord[] }; // a silent device lists nobody; its status shows why
        }
      }),
    );
    const byId = new Map<string, PersonView & { devices: string[] }>();
    for (const { device, people } of answers) {
      for (const p of people) {
        const row = byId.get(p.personId);
        if (row) {
          row.devices.push(device);
          row.embeddings = Math.min(row.embeddings, p.embeddings);
        } else byId.set(p.personId, { ...p, needsReEnrollment: p.embeddings === 0, staleEmbeddings: {}, devices: [device] });
      }
    }
    for (const row of byId.values()) row.needsReEnrollment = row.embeddings === 0;
    return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Enrolls on every device that takes commands (each runs its own quality gates); outcomes are per device. */
  async enroll(person: ConsolePersonInput, images: EnrollmentImage[]): Promise<PersonEnrollment> {
    const encoded = await Promise.all(images.map(async (i) => Buffer.from(typeof i.input === 'string' ? await readFile(i.input) : (i.input as Uint8Array)).toString('base64')));
    const sources = images.map((i) => i.source);
    const results = await this.fanOut(async (device) => {
      const r = await this.commands.send<PersonEnrollment>(device, 'enroll', { personId: person.personId, name: person.name, images: encoded });
      // The device names the photos images[i]: give them back their upload names.
      return { ...r, outcomes: r.outcomes.map((o) => ({ ...o, source: `${device}: ${sources[Number(/\[(\d+)\]/.exec(o.source)?.[1] ?? -1)] ?? o.source}` })) };
    });
    const merged: PersonEnrollment = { person: null, enrolled: 0, refused: 0, outcomes: [] };
    for (const { device, value, error } of results) {
      if (value) {
        merged.person ??= value.person;
        merged.enrolled += value.enrolled;
        merged.refused += value.refused;
        merged.outcomes.push(...value.outcomes);
      } else {
        merged.refused += 1;
        merged.outcomes.push(deviceFailure(person.personId, device, error));
      }
    }
    return merged;
  }

  /** Unknown faces are reviewed on each device's own console (their crops never leave it). */
  async enrollUnknown(): Promise<PersonEnrollment | null> {
    return null;
  }

  async rename(personId: string, name: string): Promise<PersonRecord | null> {
    const results = await this.fanOut((device) => this.commands.send<{ person: PersonRecord }>(device, 'rename', { personId, name }));
    this.throwIfAllFailed(results, 'E_PERSON_NOT_FOUND');
    return results.find((r) => r.value)?.value?.person ?? null;
  }

  async remove(personId: string): Promise<boolean> {
    const results = await this.fanOut((device) => this.commands.send<{ deleted: boolean }>(device, 'delete', { personId }));
    this.throwIfAllFailed(results);
    return results.some((r) => r.value?.deleted === true);
  }

  async status(): Promise<StatusView> {
    const devices = this.devices();
    const sub = this.subscriber.stats();
    const models = (f: keyof DeviceReport['model']) => [...new Set(devices.map((d) => d.report?.model[f]).filter((x): x is string => !!x))].join(', ') || '–';
    return {
      device: this.device,
      versions: { jetface: version, node: process.versions.node, ...Object.fromEntries(devices.map((d) => [`device ${d.id}`, d.report?.versions['jetface'] ?? '?'])) },
      bundle: { path: '(on each device)', modelId: models('modelId'), kind: models('kind'), precision: models('precision'), provider: models('provider') },
      figures: {
        devices: devices.length,
        devices_online: devices.filter((d) => d.status === 'online').length,
        cameras: this.cameras().length,
        jetface_fps_total: Math.round(devices.reduce((a, d) => a + (d.report?.cameras.reduce((x, c) => x + c.fps, 0) ?? 0), 0) * 10) / 10,
        events_received: sub.delivered,
        events_invalid: sub.invalid,
        mqtt_connected: sub.connected ? 1 : 0,
      },
      checks: [
        { name: 'broker', status: sub.connected ? 'ok' : 'warn', message: sub.connected ? `connected to ${this.brokerUrl}` : `not connected${sub.lastError ? `: ${sub.lastError.message}` : ''}`, ...(sub.connected ? {} : { fix: 'check --mqtt and the broker credentials' }) },
        ...devices.map((d) => ({
          name: `device:${d.id}`,
          status: d.status === 'online' ? ('ok' as const) : ('warn' as const),
          message: `${d.status}${d.report ? `; ${d.report.cameras.length} camera(s), ${d.report.galleryPeople} people, commands ${d.report.commands ? 'on' : 'off'}, reported ${d.report.time}` : '; no report yet'}`,
        })),
      ],
      cameras: this.cameras(),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.subscriber.close(), this.commands.close(), this.reports.close()]);
  }

  /** Online devices whose report says they take commands. */
  private commandDevices(): string[] {
    return this.devices()
      .filter((d) => d.status !== 'offline' && d.report?.commands === true)
      .map((d) => d.id);
  }

  private async fanOut<T>(send: (device: string) => Promise<T>): Promise<{ device: string; value?: T; error?: unknown }[]> {
    const devices = this.commandDevices();
    if (devices.length === 0) throw new ConsoleError('no device online takes commands (a device needs commands.enabled and this console under commands.clients)');
    return Promise.all(devices.map(async (device) => send(device).then((value) => ({ device, value }), (error: unknown) => ({ device, error }))));
  }

  /** Throws the first device's error when none succeeded (all answering `skip` counts as nothing done: null/false). */
  private throwIfAllFailed(results: { device: string; value?: unknown; error?: unknown }[], skip?: string): void {
    if (results.some((r) => r.value !== undefined)) return;
    const errors = results.map((r) => r.error).filter((e) => !(e instanceof JetfaceError && e.details['remoteCode'] === skip));
    if (errors.length > 0) throw errors[0] instanceof JetfaceError ? errors[0] : new ConsoleError(errorMessage(errors[0]));
  }

  private entry(id: string): FleetDevice {
    let d = this.known.get(id);
    if (!d) this.known.set(id, (d = { id, status: 'unknown', report: null }));
    return d;
  }

  private onEvent(e: JetfaceEvent): void {
    const d = this.entry(e.device);
    if (d.status === 'unknown') d.status = 'online';
    const cams = this.seenCameras.get(e.device) ?? new Set<string>();
    cams.add(e.camera);
    this.seenCameras.set(e.device, cams);
    this.latest.set(`${e.device}/${e.camera}`, e);
    this.events.push(e);
  }

  private onReport(topic: string, payload: Buffer): void {
    const report = parseDeviceReport(payload);
    if (!report || !topic.endsWith(`/${report.device}/report`)) return; // a report must sit on its own device's topic
    this.entry(report.device).report = report;
  }
}

function deviceFailure(personId: string, device: string, error: unknown): EnrollmentOutcome {
  const message = errorMessage(error);
  // The outcome list is per photo; a device that could not enroll at all shows as one refused line.
  return { personId, source: device, status: 'refused', reason: 'unreadable', message: `the device did not enroll: ${message}`, refusals: [], padded: null, warnings: [] };
}
