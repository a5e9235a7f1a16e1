/**
 * The console's backend for the device it runs in: live frames and strangers from the pipeline's
 * `frame` events, events from its `event`s, people from its gallery, status from its parts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DeviceConfig } from '../config/schema';
import { checkBundle, checkCameraBackends, checkOutbox, type DoctorCheck } from '../doctor/checks';
import type { FaceEngine } from '../engine/face-engine';
import type { JetfaceEvent } from '../events/types';
import { enrollPerson, type EnrollmentImage, type PersonEnrollment } from '../gallery/enroll';
import type { Gallery, PersonInput, PersonRecord } from '../gallery/types';
import type { CommandChannel } from '../mqtt/commands';
import type { EventPublisher } from '../mqtt/publisher';
import { METRIC_NAMES } from '../observability/metrics';
import type { Pipeline, PipelineFrame } from '../pipeline/pipeline';
import { version } from '../../package.json';
import type { CameraView, ConsoleBackend, ConsolePersonInput, PersonView, StatusView } from './backend';
import { EventHub } from './event-hub';
import { LiveView } from './live-view';
import { enrollCrops } from './enroll-crops';
import { frameJpeg } from './frame-image';
import { UnknownFaces } from './unknown-faces';

/** The device parts the console reads. */
export interface LocalDeviceParts {
  config: DeviceConfig;
  engine: FaceEngine;
  gallery: Gallery;
  pipeline: Pipeline;
  publisher: EventPublisher;
  commands?: CommandChannel | null;
}

const CHECKS_TTL_MS = 30_000;

/** A {@link ConsoleBackend} over one running device; `detach()` stops listening to its pipeline. */
export class LocalConsoleBackend implements ConsoleBackend {
  readonly device: string;
  readonly events = new EventHub();
  readonly live = new LiveView();
  readonly unknown: UnknownFaces;
  private readonly online = new Map<string, boolean>();
  private readonly lag = monitorEventLoopDelay({ resolution: 10 });
  private queue: Promise<unknown> = Promise.resolve();
  private checks: { at: number; checks: Promise<DoctorCheck[]> } | null = null;
  private readonly onFrame = (f: PipelineFrame): void => {
    this.live.observe(f);
    this.unknown.observe(f);
  };
  private readonly onEvent = (e: JetfaceEvent): void => {
    if (e.type === 'camera_online' || e.type === 'camera_offline') this.online.set(e.camera, e.type === 'camera_online');
    this.unknown.onEvent(e);
    this.events.push(e);
  };

  constructor(private readonly parts: LocalDeviceParts) {
    this.device = parts.config.device.id;
    this.unknown = new UnknownFaces({ clusterCosine: parts.config.console.clusterCosine ?? parts.gallery.threshold, maxClusters: parts.config.console.unknownClusters });
    parts.pipeline.on('frame', this.onFrame).on('event', this.onEvent);
    this.lag.enable();
  }

  detach(): void {
    this.parts.pipeline.off('frame', this.onFrame).off('event', this.onEvent);
    this.lag.disable();
  }

  cameras(): CameraView[] {
    return this.parts.pipeline.stats().map((s) => ({
      id: s.camera,
      online: this.online.get(s.camera) ?? false,
      state: s.state,
      fps: Math.round((s.source?.fps ?? 0) * 10) / 10,
      frames: s.frames,
      faces: s.faces,
    }));
  }

  listPeople(): PersonView[] {
    const g = this.parts.gallery as Gallery & { staleness?: () => { personId: string; stale: Record<string, number> }[] };
    const stale = new Map((g.staleness?.() ?? []).map((s) => [s.personId, s.stale]));
    return g.listPeople().map((p) => ({ ...p, needsReEnrollment: p.embeddings === 0, staleEmbeddings: stale.get(p.personId) ?? {} }));
  }

  enroll(person: ConsolePersonInput, images: EnrollmentImage[]): Promise<PersonEnrollment> {
    return this.serial(() => enrollPerson(this.parts.engine, this.parts.gallery, this.personInput(person), images, { faceImages: this.parts.config.gallery.keepFaceImages }));
  }

  /** An existing person keeps their metadata and threshold; enrolling adds embeddings. */
  private personInput(person: ConsolePersonInput): PersonInput {
    const existing = this.parts.gallery.getPerson(person.personId);
    return existing ? { personId: existing.personId, name: person.name, metadata: existing.metadata, threshold: existing.threshold } : person;
  }

  enrollUnknown(id: string, person: ConsolePersonInput): Promise<PersonEnrollment | null> {
    return this.serial(async () => {
      const cluster = this.unknown.get(id);
      if (!cluster) return null;
      const crops = [...cluster.crops];
      // The gallery keeps face images only when configured to; then the crop shown on the page is kept.
      const images = this.parts.config.gallery.keepFaceImages ? await Promise.all(crops.map((c) => frameJpeg(c.frame, 256, 90))) : [];
      const result = enrollCrops(this.parts.gallery, this.personInput(person), crops, `unknown/${id}`, (c) => images[crops.indexOf(c)]);
      if (result.enrolled > 0) this.unknown.remove(id);
      return result;
    });
  }

  rename(personId: string, name: string): Promise<PersonRecord | null> {
    return this.serial(async () => {
      const p = this.parts.gallery.getPerson(personId);
      return p ? this.parts.gallery.upsertPerson({ personId, name, metadata: p.metadata, threshold: p.threshold }) : null;
    });
  }

  remove(personId: string): Promise<boolean> {
    return this.serial(async () => this.parts.gallery.removePerson(personId));
  }

  async status(): Promise<StatusView> {
    const { engine, publisher, pipeline, config, gallery } = this.parts;
    const cams = pipeline.stats();
    const pub = publisher.stats();
    const medians = cams.map((c) => c.detectMsMedian).filter((x): x is number => x !== null);
    const figures: Record<string, number | null> = {
      [METRIC_NAMES.fps]: round(cams.reduce((a, c) => a + (c.source?.fps ?? 0), 0)),
      [METRIC_NAMES.inferenceMedian]: medians.length ? round(Math.max(...medians)) : null,
      nodejs_eventloop_lag_p50_ms: round(this.lag.percentile(50) / 1e6),
      nodejs_eventloop_lag_max_ms: round(this.lag.max / 1e6),
      [METRIC_NAMES.outboxDepth]: pub.outboxDepth,
      [METRIC_NAMES.outboxDropped]: pub.dropped,
      [METRIC_NAMES.framesDropped]: cams.reduce((a, c) => a + (c.source?.framesDropped ?? 0), 0),
      [METRIC_NAMES.sinkDrops]: cams.reduce((a, c) => a + c.sinkDrops, 0),
      [METRIC_NAMES.mqttConnected]: pub.connected ? 1 : 0,
      [METRIC_NAMES.galleryPeople]: gallery.size,
      [METRIC_NAMES.commandsRefused]: this.parts.commands?.stats().refused ?? null,
    };
    return {
      device: this.device,
      versions: { jetface: version, node: process.versions.node, onnxruntime: onnxVersion(), modules: process.versions.modules ?? '' },
      bundle: { path: config.model.bundle, modelId: engine.info.modelId, kind: engine.info.kind, precision: engine.info.precision, provider: engine.info.provider },
      figures,
      checks: [...(await this.doctorChecks()), { name: 'broker', status: pub.connected ? 'ok' : 'warn', message: pub.connected ? 'connected' : `not connected${pub.lastError ? `: ${pub.lastError.message}` : ''}`, ...(pub.connected ? {} : { fix: 'check mqtt.url and the broker' }) }],
      cameras: this.cameras(),
    };
  }

  /** `jetface doctor`'s checks that apply to a running device, cached for 30 s (some start processes). */
  private doctorChecks(): Promise<DoctorCheck[]> {
    if (this.checks && Date.now() - this.checks.at < CHECKS_TTL_MS) return this.checks.checks;
    const { config, engine } = this.parts;
    const checks = (async () => {
      const bundle = await checkBundle(config.model.bundle);
      const provider: DoctorCheck = { name: `provider:${engine.info.provider}`, status: 'ok', message: `running on ${engine.info.provider}; ${engine.info.providerAttempts.filter((a) => !a.ok).map((a) => `${a.provider}: ${a.reason ?? 'not available'}`).join('; ') || 'no provider skipped'}` };
      const backends = await checkCameraBackends();
      return [bundle.check, provider, ...backends, await checkOutbox(config.outbox.dir, config.outbox.maxBytes)];
    })();
    this.checks = { at: Date.now(), checks };
    return checks;
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function onnxVersion(): string {
  try {
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
