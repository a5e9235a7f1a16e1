import type { Command } from 'commander';
import { defaultBundleDir } from '../../config/load';
import { InvalidArgumentError, NothingEnrolledError } from '../../errors';
import { openFrameSource } from '../../capture/open-frame-source';
import { enrollFolder, enrollPerson, type EnrollmentOutcome, type PersonEnrollment } from '../../gallery/enroll';
import { enrollFromCamera } from '../../gallery/enroll-camera';
import { embeddingSpaceId } from '../../gallery/model-id';
import { SqliteGallery } from '../../gallery/sqlite-gallery';
import { jsonOption, openEngine, parseNumber, round, type EngineCliOptions } from '../shared-options';

interface EnrollCliOptions extends Omit<EngineCliOptions, 'bundle'> {
  bundle?: string;
  db: string;
  person?: string;
  name?: string;
  folder?: string;
  camera?: string;
  frames?: string;
  timeout?: string;
  json?: boolean;
  refuseDuplicates?: boolean;
}

/**
 * `jetface enroll --db FILE [--bundle DIR] (--person ID --name NAME (IMAGE... | --camera SRC) | --folder DIR) [--json]`.
 * Exit status 0 when at least one embedding was enrolled; 1 (`E_NOTHING_ENROLLED`) when none was; each refused file is listed with its reason.
 */
export function registerEnroll(program: Command): void {
  program
    .command('enroll')
    .description('enroll people into a gallery from photos (quality-gated; refused photos are listed with the reason)')
    .requiredOption('--db <file>', 'gallery database (SQLite; created with mode 0600 if missing)')
    .option('--bundle <dir>', 'model bundle folder (default: the shipped models/jetface-s)')
    .option('--providers <list>', 'execution providers to try in order')
    .option('--threads <n>', 'CPU intra-op threads (0 = onnxruntime decides)')
    .option('--person <id>', 'the person id (with --name and images)')
    .option('--name <name>', "the person's name")
    .option('--folder <dir>', 'a folder tree: one sub-folder per person (folder name = id; optional person.json { name, metadata })')
    .option('--camera <source>', 'enroll --person from a camera, RTSP URL or video file instead of photos: frames that pass the gates, unlike each other')
    .option('--frames <n>', 'with --camera: frames to collect (default 5)')
    .option('--timeout <seconds>', 'with --camera: give up collecting after this long (default 20)')
    .option('--refuse-duplicates', 'refuse a photo whose face already matches someone else (default: warn)')
    .addOption(jsonOption())
    .argument('[images...]', 'photos of the person')
    .action(async (images: string[], o: EnrollCliOptions) => {
      const byFolder = o.folder !== undefined;
      if (byFolder && (o.person !== undefined || images.length > 0)) throw new InvalidArgumentError('--folder', 'used without --person and images', o.folder);
      if (byFolder && o.camera !== undefined) throw new InvalidArgumentError('--camera', 'used with --person, not --folder', o.camera);
      if (!byFolder) {
        if (o.person === undefined) throw new InvalidArgumentError('--person', 'a person id (or use --folder)', o.person);
        if (o.name === undefined) throw new InvalidArgumentError('--name', "the person's name", o.name);
        if (o.camera !== undefined && images.length > 0) throw new InvalidArgumentError('images', 'none with --camera', images);
        if (o.camera === undefined && images.length === 0) throw new InvalidArgumentError('images', 'at least one photo (or --camera SRC)', images);
      }
      const engine = await openEngine({ ...o, bundle: o.bundle ?? defaultBundleDir() });
      let gallery: SqliteGallery | undefined;
      try {
        // The bundle's threshold decides the "already matches someone else" warning, as it decides matches.
        gallery = SqliteGallery.open(o.db, { modelId: embeddingSpaceId(engine.manifest), threshold: engine.manifest.thresholds.match });
        const options = {
          refuseIfMatchesOther: o.refuseDuplicates === true,
          onProgress: ({ done, total, outcome }: { done: number; total: number; outcome: EnrollmentOutcome }) => {
            if (o.json) console.log(JSON.stringify({ done, total, ...outcomeJson(outcome) }));
            else console.log(`[${done}/${total}] ${outcomeText(outcome)}`);
          },
        };
        const result = byFolder
          ? await enrollFolder(engine, gallery, o.folder!, options)
          : o.camera !== undefined
            ? await enrollCamera(engine, gallery, { personId: o.person!, name: o.name! }, o, options)
            : await enrollPerson(engine, gallery, { personId: o.person!, name: o.name! }, images, options);
        const summary = { enrolled: result.enrolled, refused: result.refused, people: gallery.listPeople().length };
        if (o.json) console.log(JSON.stringify({ summary }));
        else console.log(`enrolled ${summary.enrolled}, refused ${summary.refused}; the gallery now holds ${summary.people} people`);
        if (result.enrolled === 0) throw new NothingEnrolledError(result.outcomes.map((x) => ({ source: x.source, reason: x.status === 'refused' ? x.reason : 'enrolled' })));
      } finally {
        gallery?.close();
        await engine.close();
      }
    });
}

/** Collects gate-passing frames of the one face in front of the camera, then enrolls them. */
async function enrollCamera(
  engine: Parameters<typeof enrollFromCamera>[0],
  gallery: SqliteGallery,
  person: { personId: string; name: string },
  o: EnrollCliOptions,
  options: { refuseIfMatchesOther: boolean; onProgress: (p: { done: number; total: number; outcome: EnrollmentOutcome }) => void },
): Promise<PersonEnrollment> {
  const frames = o.frames !== undefined ? parseNumber('--frames', o.frames) : 5;
  const timeoutMs = (o.timeout !== undefined ? parseNumber('--timeout', o.timeout) : 20) * 1000;
  const source = await openFrameSource(o.camera!, { maxFps: 10 });
  try {
    console.error(`looking at ${o.camera} for ${frames} good frames of ${person.name} (up to ${timeoutMs / 1000} s)...`);
    const result = await enrollFromCamera(engine, gallery, person, source, { ...options, frames, timeoutMs });
    if (result.timedOut) console.error(`timed out after ${result.framesSeen} frames; skipped: ${JSON.stringify(result.skipped)}`);
    return result;
  } finally {
    await source.stop();
  }
}

function outcomeJson(o: EnrollmentOutcome): Record<string, unknown> {
  if (o.status === 'refused') return { personId: o.personId, source: o.source, status: o.status, reason: o.reason, message: o.message, padded: o.padded, warnings: o.warnings };
  return { personId: o.personId, source: o.source, status: o.status, box: o.box.map((v) => round(v)), score: round(o.score, 4), sharpness: round(o.measures.sharpness, 1), pose: o.measures.pose, padded: o.padded, warnings: o.warnings };
}

function outcomeText(o: EnrollmentOutcome): string {
  const warn = o.warnings.map((w) => `\n    warning: ${w.message}`).join('');
  const pad = o.padded !== null ? ` (found with a ${o.padded}× border)` : '';
  if (o.status === 'refused') return `${o.personId} ${o.source}: refused (${o.reason}) ${o.message}${warn}`;
  return `${o.personId} ${o.source}: enrolled, score ${o.score.toFixed(2)}${pad}${warn}`;
}
