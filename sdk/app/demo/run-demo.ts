/**
 * `jetface demo`: the whole device on a laptop with no arguments. An embedded broker, the default
 * bundle, a SQLite gallery in a temporary folder, sample input (a camera when present, else the
 * sample photos `npm install` brings), guest enrollment (or `--enroll DIR`), a subscriber printing
 * the events as they arrive over MQTT, and an annotated HTML page.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { openFrameSource } from '../../capture/open-frame-source';
import { defaultBundleDir, parseDeviceConfig } from '../../config/load';
import type { DeviceConfigInput } from '../../config/schema';
import type { ExecutionProviderName } from '../../engine/providers';
import type { EventType, JetfaceEvent } from '../../events/types';
import { JetfaceSubscriber } from '../../mqtt/subscriber';
import { createLogger } from '../../observability/logger';
import type { Face, Frame } from '../../types';
import { cameraSourceSpec } from '../camera-source';
import { startDevice } from '../start-device';
import { enrollFolder } from '../../gallery/enroll';
import { GuestEnroller, type GuestOutcome } from './guests';
import { resolveDemoInput } from './input';
import { EventConsole } from './print';
import { ReplaySource } from './replay-source';
import { HtmlReport } from './report';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** A video file, image folder, image, RTSP URL or /dev/videoN; default: /dev/video0 if present, else the sample photos. */
  input?: string;
  /** Enroll `DIR/<person>/*` instead of guest mode. */
  enroll?: string;
  /** No colours; the caller decides the exit status from the result. */
  headless?: boolean;
  /** The HTML page (default ./jetface-demo/index.html); null writes none. */
  out?: string | null;
  bundle?: string;
  providers?: ExecutionProviderName[];
  /** Keep the gallery in this file (default: a temporary folder, removed at the end). */
  gallery?: string;
  /** Match threshold (cosine); default: the bundle's. */
  threshold?: number;
  /** Live input: stop after this many seconds (default: until the signal aborts; 60 when headless). */
  durationS?: number;
  /** The device console's port (default: any free one); it always runs, on 127.0.0.1, with a one-time login link. */
  consolePort?: number;
  /** Keep serving the console after the input ends, until the signal aborts. */
  keepConsole?: boolean;
  /** Where lines go (default stdout). */
  write?: (line: string) => void;
  signal?: AbortSignal;
}

/** What the demo saw. */
export interface DemoResult {
  /** Names of the people recognized (in events received over MQTT). */
  recognized: string[];
  guestsEnrolled: number;
  /** Events received by the subscriber, by type. */
  events: Partial<Record<EventType, number>>;
  frames: number;
  faces: number;
  /** Milliseconds from process start to the first recognition of a person printed, or null. */
  firstRecognitionMs: number | null;
  htmlFile: string | null;
  boxes: number;
  /** The console's address (its login link was printed). */
  consoleUrl: string | null;
  /** Why nobody was recognized, when so. */
  reason: string | null;
}

const CAMERA = 'demo';
const FRAMES_PER_PHOTO = 4;

/**
 * Runs the demo to its end (photos and files: played twice in guest mode; live input: until the
 * signal aborts or `durationS`).
 *
 * @example
 * ```ts
 * const result = await runDemo({ headless: true });
 * process.exitCode = result.recognized.length > 0 ? 0 : 1;
 * ```
 */
export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const write = o.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const color = !o.headless && process.stdout.isTTY === true;
  const input = await resolveDemoInput(o.input);
  const guestMode = o.enroll === undefined;
  const passes = input.kind === 'live' || !guestMode ? 1 : 2;
  const work = await mkdtemp(join(tmpdir(), 'jetface-demo-'));
  const htmlFile = o.out === null ? null : resolve(o.out ?? join('jetface-demo', 'index.html'));
  try {
    const config = parseDeviceConfig(demoConfig(input, work, o), 'demo');
    write(`jetface demo: ${input.label}${guestMode ? ', guest mode (the first good unknown faces are enrolled as guest-1, guest-2, ...)' : `, people enrolled from ${o.enroll}`}`);
    if (passes === 2) write(`the input plays twice: pass 1 enrolls guests, pass 2 recognizes them when they come back`);

    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    let photoCaption: { sequence: number; caption: string } | null = null;
    // Every input goes through a ReplaySource: its gate holds the first frame until enrollment is
    // done and the subscriber listens, so no event is missed; photos and files play `passes` times.
    const onPass = (p: number): void => void (passes > 1 && write(`--- pass ${p} of ${passes} ---`));
    const replay =
      input.kind === 'photos'
        ? new ReplaySource({ cameraId: CAMERA, passes, startGate: gate, onPass, input: { kind: 'photos', files: input.files, framesPerPhoto: FRAMES_PER_PHOTO }, onPhoto: (file, pass, frame) => (photoCaption = { sequence: frame.sequence, caption: `${basename(file)}, pass ${pass}` }) })
        : new ReplaySource({ cameraId: CAMERA, passes, startGate: gate, onPass, input: { kind: 'frames', open: () => openFrameSource(cameraSourceSpec(config.cameras[0]!)) } });

    let latest: { frame: Frame; faces: readonly Face[]; kept: boolean } | null = null;
    let guests: GuestEnroller | null = null;
    let report: HtmlReport | null = null;
    let frames = 0;
    let faceCount = 0;
    const onFaces = (frame: Frame, faces: readonly Face[]): void => {
      frames++;
      faceCount += faces.length;
      guests?.observe(frame, faces);
      latest = { frame, faces, kept: false };
      const photo = photoCaption as { sequence: number; caption: string } | null;
      if (report && photo && photo.sequence === frame.sequence) latest.kept = report.keep(frame, faces, photo.caption);
    };
    const log = createLogger({ level: 'error', format: 'pretty', destination: process.stderr, base: { device: 'demo' } });
    const device = await startDevice(config, { log, source: 'demo', onFaces, sources: { [CAMERA]: replay }, console: { port: o.consolePort ?? 0, passwordHash: null } });
    const consoleUrl = device.console?.url ?? null;
    if (device.console) write(`console: ${device.console.loginUrl()} (a one-time login link; the console serves while the demo runs${o.keepConsole ? ' and after' : ', or after with --console'})`);
    let subscriber: JetfaceSubscriber | null = null;
    try {
      report = htmlFile ? new HtmlReport(device.gallery) : null;
      const out = new EventConsole(write, color);
      if (guestMode) {
        guests = new GuestEnroller(device.gallery, (g: GuestOutcome) => out.note(g.trackId, g.enrolled ? `  → enrolled as ${g.name} (${g.personId})` : `  → not enrolled: ${g.reason}`, g.enrolled));
      } else {
        const job = await enrollFolder(device.engine, device.gallery, o.enroll!);
        for (const p of job.people) {
          const refused = p.outcomes.flatMap((x) => (x.status === 'refused' ? [`${basename(x.source)} (${x.message})`] : []));
          const who = p.person ? `${p.person.name} (${p.person.personId})` : (p.outcomes[0]?.personId ?? '?');
          write(`enrolled ${who}: ${p.enrolled} photo(s)${refused.length ? `; refused ${refused.join(', ')}` : ''}`);
        }
      }
      let pipelineEvents = 0;
      device.pipeline.on('event', (e: JetfaceEvent) => {
        pipelineEvents++;
        guests?.onEvent(e);
        // Video and cameras: keep the frames where a track was decided (photos keep each photo's first frame).
        const decided = e.type === 'recognition' || e.type === 'recognition_update';
        const current = latest as { frame: Frame; faces: readonly Face[]; kept: boolean } | null;
        if (decided && report && input.kind !== 'photos' && current && !current.kept) current.kept = report.keep(current.frame, current.faces, `${e.camera} ${e.time.slice(11, 19)}: ${e.identity?.name ?? 'unknown face'}`);
      });

      subscriber = await JetfaceSubscriber.create({ url: device.brokerUrl, env: {}, status: false, waitForConnectionMs: 10_000 });
      subscriber.on('event', (e: JetfaceEvent) => out.onEvent(e));
      openGate();

      const stopped = new Promise<void>((r) => {
        if (o.signal?.aborted) r();
        o.signal?.addEventListener('abort', () => r(), { once: true });
        const duration = o.durationS ?? (o.headless && input.kind === 'live' ? 60 : undefined);
        if (duration !== undefined && input.kind === 'live') setTimeout(r, duration * 1000).unref();
      });
      await Promise.race([device.finished(), stopped]);
      await device.pipeline.stop();
      await device.publisher.flush(5000).catch(() => undefined);
      // The subscriber gets the last events a moment after the broker's acknowledgement.
      for (let i = 0; i < 60 && out.received < pipelineEvents; i++) await new Promise((r) => setTimeout(r, 50));

      const { counts, recognized, firstRecognitionMs } = out;
      const summary = [
        `${frames} frames, ${faceCount} faces; events received over MQTT: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
        guestMode ? `guests enrolled: ${guests?.guests ?? 0}` : `people enrolled: ${device.gallery.listPeople().length}`,
        `recognized: ${recognized.size ? [...recognized].join(', ') : 'nobody'}`,
        firstRecognitionMs === null ? 'no recognition' : `first recognition printed ${(firstRecognitionMs / 1000).toFixed(1)} s after the process started`,
      ];
      let boxes = 0;
      if (report && htmlFile) {
        boxes = await report.write(htmlFile, `jetface demo: ${input.label}`, summary);
        summary.push(`annotated result: ${htmlFile} (${report.size} frames, ${boxes} faces boxed)`);
      }
      write('--- summary ---');
      for (const line of summary) write(line);
      if (o.keepConsole && consoleUrl) {
        write(`console still serving at ${consoleUrl} (new login link: ${device.console!.loginUrl()}); Ctrl-C stops it`);
        await new Promise<void>((r) => (o.signal?.aborted ? r() : o.signal?.addEventListener('abort', () => r(), { once: true })));
      }
      const reason = recognized.size > 0 ? null : whyNobody(frames, faceCount, guestMode ? (guests?.guests ?? 0) : device.gallery.listPeople().length, guestMode, passes);
      return { recognized: [...recognized], guestsEnrolled: guests?.guests ?? 0, events: counts, frames, faces: faceCount, firstRecognitionMs, htmlFile: report ? htmlFile : null, boxes, consoleUrl, reason };
    } finally {
      await subscriber?.close();
      await device.stop();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function demoConfig(input: Awaited<ReturnType<typeof resolveDemoInput>>, work: string, o: DemoOptions): DeviceConfigInput {
  const source =
    input.kind === 'live' ? input.source : input.kind === 'video' ? { kind: 'file' as const, path: input.path } : { kind: 'images' as const, dir: dirname(input.files[0]!) };
  return {
    device: { id: 'demo' },
    cameras: [{ id: CAMERA, source, ...(input.kind === 'photos' ? {} : { fps: 10 }) }],
    model: { bundle: o.bundle ?? defaultBundleDir(), ...(o.providers ? { providers: o.providers } : {}) },
    gallery: { path: o.gallery ?? join(work, 'gallery.db'), ...(o.threshold !== undefined ? { threshold: o.threshold } : {}) },
    mqtt: { embedded: true, embeddedPort: 0 },
    outbox: { dir: work },
    // Still photos are shown for a few frames only: confirm and decide a little sooner than on video.
    tracking: input.kind === 'photos' ? { confirmHits: 2, vote: { unknownEvidence: 0.75, minEvidence: 0.6 } } : {},
    logging: { level: 'error', format: 'pretty' },
  };
}

function whyNobody(frames: number, faces: number, enrolled: number, guestMode: boolean, passes: number): string {
  if (frames === 0) return 'no frame was read from the input';
  if (faces === 0) return `no face was found in ${frames} frames`;
  if (enrolled === 0) return guestMode ? 'no face was good enough to enroll as a guest (quality gates: size, score, sharpness, pose)' : 'nobody could be enrolled from the --enroll folder';
  return guestMode && passes < 2 ? 'the enrolled guests did not come back' : 'no face matched an enrolled person';
}
