import { closeSync, fchmodSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadBundle } from '../../bundle/load-bundle';
import { defaultBundleDir } from '../../config/load';
import { InputFileError, InvalidArgumentError, PersonNotFoundError, errorMessage } from '../../errors';
import { embeddingSpaceId } from '../../gallery/model-id';
import { SqliteGallery } from '../../gallery/sqlite-gallery';
import { jsonOption } from '../shared-options';

interface GalleryCliOptions {
  db: string;
  bundle?: string;
  json?: boolean;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Opens the gallery for the bundle's embedding space (manifest only: no model is loaded). */
async function openGallery(o: GalleryCliOptions, mode: { readonly: boolean }): Promise<SqliteGallery> {
  const { manifest } = await loadBundle(o.bundle ?? defaultBundleDir(), { verifyChecksums: false });
  return SqliteGallery.open(o.db, { modelId: embeddingSpaceId(manifest), threshold: manifest.thresholds.match, readonly: mode.readonly });
}

/**
 * Writes a file readable by its owner only. The mode given to open() applies only when it creates
 * the file: an existing 0644 file is tightened before any byte of the export lands in it.
 */
function writePrivate(path: string, text: string): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    // Not a device or pipe (--out /dev/stdout): chmod would change the terminal's mode.
    if (fstatSync(fd).isFile()) fchmodSync(fd, 0o600);
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function withGalleryOptions(command: Command): Command {
  return command.requiredOption('--db <file>', 'gallery database file').option('--bundle <dir>', 'model bundle whose model id the gallery matches (default: the bundled jetface-s)').addOption(jsonOption());
}

/**
 * `jetface gallery ls | rm | export | import`: list, delete, back up and restore enrolled people.
 *
 * @example
 * ```sh
 * jetface gallery ls --db gallery.db --json
 * jetface gallery rm --db gallery.db ada bob
 * jetface gallery export --db gallery.db --out backup.json
 * jetface gallery import --db other.db --in backup.json --mode merge
 * ```
 */
export function registerGallery(program: Command): void {
  const gallery = program.command('gallery').description('list, delete, export and import enrolled people');

  withGalleryOptions(gallery.command('ls').description("list enrolled people (embeddings counted for the bundle's model; stale ones need re-enrollment)")).action(async (o: GalleryCliOptions) => {
    const g = await openGallery(o, { readonly: true });
    try {
      const stale = new Map(g.staleness().map((s) => [s.personId, s]));
      const people = g.listPeople().map((p) => ({ ...p, staleEmbeddings: stale.get(p.personId)?.stale ?? {}, needsReEnrollment: p.embeddings === 0 }));
      if (o.json) {
        for (const p of people) out(JSON.stringify(p));
        return;
      }
      out(`${people.length} people in ${o.db} (model ${g.modelId})`);
      for (const p of people) {
        const staleCount = Object.values(p.staleEmbeddings).reduce((a, b) => a + b, 0);
        const notes = [p.threshold !== null ? `threshold ${p.threshold}` : '', staleCount > 0 ? `${staleCount} of other models` : '', p.needsReEnrollment ? 'NEEDS RE-ENROLLMENT' : '']
          .filter(Boolean)
          .join(', ');
        out(`${p.personId}\t${p.name}\t${p.embeddings} embeddings${notes ? `\t(${notes})` : ''}`);
      }
    } finally {
      g.close();
    }
  });

  withGalleryOptions(gallery.command('rm').description('delete people with every embedding and face image of theirs, then VACUUM the file').argument('<personId...>', 'ids of the people to delete')).action(
    async (ids: string[], o: GalleryCliOptions) => {
      const g = await openGallery(o, { readonly: false });
      try {
        // Every id is checked before anything is deleted: a typo deletes nobody.
        const unknown = ids.find((id) => g.getPerson(id) === null);
        if (unknown !== undefined) throw new PersonNotFoundError(unknown);
        for (const id of ids) g.removePerson(id);
        g.vacuum();
        if (o.json) out(JSON.stringify({ removed: ids }));
        else out(`removed ${ids.join(', ')} from ${o.db}`);
      } finally {
        g.close();
      }
    },
  );

  withGalleryOptions(gallery.command('export').description("write the bundle model's people and embeddings as a JSON document (no face images)").option('--out <file>', 'file to write (mode 0600); default: standard output')).action(
    async (o: GalleryCliOptions & { out?: string }) => {
      const g = await openGallery(o, { readonly: true });
      try {
        const doc = g.export();
        const text = JSON.stringify(doc);
        if (!o.out) return out(text);
        writePrivate(o.out, `${text}\n`);
        const summary = { out: o.out, people: doc.people.length, embeddings: doc.people.reduce((n, p) => n + p.embeddings.length, 0) };
        out(o.json ? JSON.stringify(summary) : `wrote ${summary.people} people, ${summary.embeddings} embeddings to ${o.out}`);
      } finally {
        g.close();
      }
    },
  );

  withGalleryOptions(gallery.command('import').description('import a document written by `gallery export` (validated first; one transaction)'))
    .requiredOption('--in <file>', 'the JSON document')
    .option('--mode <mode>', 'merge (add and update people) or replace (the gallery becomes the document)', 'merge')
    .action(async (o: GalleryCliOptions & { in: string; mode: string }) => {
      if (o.mode !== 'merge' && o.mode !== 'replace') throw new InvalidArgumentError('--mode', 'merge or replace', o.mode);
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(o.in, 'utf8'));
      } catch (error) {
        throw new InputFileError(o.in, `cannot read a JSON document (${errorMessage(error)})`);
      }
      const g = await openGallery(o, { readonly: false });
      try {
        const summary = g.import(doc, { mode: o.mode });
        out(o.json ? JSON.stringify(summary) : `imported ${summary.people} people (${summary.embeddingsAdded} new embeddings, ${summary.mode}) into ${o.db}`);
      } finally {
        g.close();
      }
    });
}
