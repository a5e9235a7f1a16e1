import type { Command } from 'commander';
import { defaultBundleDir } from '../../config/load';
import { InvalidArgumentError, NothingEnrolledError } from '../../errors';
import { enrollFolder, enrollPerson, type EnrollmentOutcome } from '../../gallery/enroll';
import { embeddingSpaceId } from '../../gallery/model-id';
import { SqliteGallery } from '../../gallery/sqlite-gallery';
import { jsonOption, openEngine, round, type EngineCliOptions } from '../shared-options';

interface EnrollCliOptions extends Omit<EngineCliOptions, 'bundle'> {
  bundle?: string;
  db: string;
  person?: string;
  name?: string;
  folder?: string;
  json?: boolean;
  refuseDuplicates?: boolean;
}

/**
 * `jetface enroll --db FILE [--bundle DIR] (--person ID --name NAME IMAGE... | --folder DIR) [--json]`.
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
    .option('--refuse-duplicates', 'refuse a photo whose face already matches someone else (default: warn)')
    .addOption(jsonOption())
    .argument('[images...]', 'photos of the person')
    .action(async (images: string[], o: EnrollCliOptions) => {
      const byFolder = o.folder !== undefined;
      if (byFolder && (o.person !== undefined || images.length > 0)) throw new InvalidArgumentError('--folder', 'used without --person and images', o.folder);
      if (!byFolder) {
        if (o.person === undefined) throw new InvalidArgumentError('--person', 'a person id (or use --folder)', o.person);
        if (o.name === undefined) throw new InvalidArgumentError('--name', "the person's name", o.name);
        if (images.length === 0) throw new InvalidArgumentError('images', 'at least one photo', images);
      }
      const engine = await openEngine({ ...o, bundle: o.bundle ?? defaultBundleDir() });
      let gallery: SqliteGallery | undefined;
      try {
        gallery = SqliteGallery.open(o.db, { modelId: embeddingSpaceId(engine.manifest) });
        const options = {
          refuseIfMatchesOther: o.refuseDuplicates === true,
          onProgress: ({ done, total, outcome }: { done: number; total: number; outcome: EnrollmentOutcome }) => {
            if (o.json) console.log(JSON.stringify({ done, total, ...outcomeJson(outcome) }));
            else console.log(`[${done}/${total}] ${outcomeText(outcome)}`);
          },
        };
        const result = byFolder
          ? await enrollFolder(engine, gallery, o.folder!, options)
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
