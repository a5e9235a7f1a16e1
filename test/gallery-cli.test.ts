/**
 * `jetface gallery ls | rm | export | import`, through the CLI's `main(argv)` in this process, on
 * real gallery files and the real default bundle (models/jetface-s gives the model id).
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../sdk/cli/main';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { parseManifest } from '../sdk/bundle/manifest';
import { tempDir } from './support/data';

const MODEL_ID = embeddingSpaceId(parseManifest(JSON.parse(readFileSync('models/jetface-s/manifest.json', 'utf8'))));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `jetface ARGS` in-process, capturing what it writes. */
async function jetface(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const outSpy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    const code = await main(['node', 'jetface', ...args]);
    return { code, stdout, stderr };
  } finally {
    outSpy.mockRestore();
    errSpy.mockRestore();
  }
}

function unit(seed: number, dim = 128): Float32Array {
  const v = Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 31 + i * 7.3));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function makeDb(): string {
  const db = join(tempDir(), 'gallery.db');
  const g = SqliteGallery.open(db, { modelId: MODEL_ID });
  g.upsertPerson({ personId: 'ada', name: 'Ada Lovelace', metadata: { team: 'a' } });
  g.addEmbeddings('ada', [{ embedding: unit(1) }, { embedding: unit(2) }]);
  g.upsertPerson({ personId: 'bob', name: 'Bob', threshold: 0.6 });
  g.addEmbeddings('bob', [{ embedding: unit(3) }]);
  g.close();
  return db;
}

const lines = (s: string): unknown[] => s.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);

describe('jetface gallery', () => {
  test('ls lists people with their embedding counts (text and --json)', async () => {
    const db = makeDb();
    const text = await jetface('gallery', 'ls', '--db', db);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`2 people in ${db} (model ${MODEL_ID})`);
    expect(text.stdout).toMatch(/ada\tAda Lovelace\t2 embeddings/);
    expect(text.stdout).toMatch(/bob\tBob\t1 embeddings\t\(threshold 0\.6\)/);
    const json = await jetface('gallery', 'ls', '--db', db, '--json');
    expect(lines(json.stdout)).toEqual([
      expect.objectContaining({ personId: 'ada', name: 'Ada Lovelace', embeddings: 2, metadata: { team: 'a' }, needsReEnrollment: false }),
      expect.objectContaining({ personId: 'bob', embeddings: 1, threshold: 0.6 }),
    ]);
  });

  test('ls flags people enrolled with another model as needing re-enrollment', async () => {
    const db = join(tempDir(), 'old.db');
    const g = SqliteGallery.open(db, { modelId: 'jetface-s:oldmodel' });
    g.upsertPerson({ personId: 'ada', name: 'Ada' });
    g.addEmbeddings('ada', [{ embedding: unit(1) }]);
    g.close();
    const r = await jetface('gallery', 'ls', '--db', db, '--json');
    expect(lines(r.stdout)).toEqual([expect.objectContaining({ personId: 'ada', embeddings: 0, needsReEnrollment: true, staleEmbeddings: { 'jetface-s:oldmodel': 1 } })]);
    expect((await jetface('gallery', 'ls', '--db', db)).stdout).toContain('NEEDS RE-ENROLLMENT');
  });

  test('rm deletes the people named; an unknown id deletes nobody and exits 1 with its code', async () => {
    const db = makeDb();
    const bad = await jetface('gallery', 'rm', '--db', db, 'ada', 'nobody');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('E_PERSON_NOT_FOUND');
    expect(bad.stderr).toContain('"nobody"');
    const ok = await jetface('gallery', 'rm', '--db', db, 'ada', '--json');
    expect(ok.code).toBe(0);
    expect(lines(ok.stdout)).toEqual([{ removed: ['ada'] }]);
    expect(readFileSync(db).includes('Ada Lovelace')).toBe(false);
    expect(lines((await jetface('gallery', 'ls', '--db', db, '--json')).stdout)).toEqual([expect.objectContaining({ personId: 'bob' })]);
  });

  test('export then import into a new file gives the same people; a bad document is refused', async () => {
    const db = makeDb();
    const file = join(tempDir(), 'backup.json');
    const exp = await jetface('gallery', 'export', '--db', db, '--out', file, '--json');
    expect(exp.code).toBe(0);
    expect(lines(exp.stdout)).toEqual([{ out: file, people: 2, embeddings: 3 }]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const other = join(tempDir(), 'other.db');
    const imp = await jetface('gallery', 'import', '--db', other, '--in', file, '--json');
    expect(imp.code).toBe(0);
    expect(lines(imp.stdout)).toEqual([{ people: 2, embeddingsAdded: 3, mode: 'merge' }]);
    expect(statSync(other).mode & 0o777).toBe(0o600);
    const a = lines((await jetface('gallery', 'ls', '--db', db, '--json')).stdout);
    expect(lines((await jetface('gallery', 'ls', '--db', other, '--json')).stdout)).toEqual(a);

    const doc = JSON.parse(readFileSync(file, 'utf8')) as { version: number };
    doc.version = 9;
    writeFileSync(file, JSON.stringify(doc));
    const refused = await jetface('gallery', 'import', '--db', other, '--in', file, '--mode', 'replace');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_INVALID_ARGUMENT: expected document\.version/);
    writeFileSync(file, '{not json');
    expect((await jetface('gallery', 'import', '--db', other, '--in', file)).stderr).toContain('E_INPUT_FILE');
    expect((await jetface('gallery', 'import', '--db', other, '--in', file, '--mode', 'upsert')).stderr).toContain('--mode');
  });

  test('export --out over an existing 0644 file leaves it 0600; import tightens an existing 0644 gallery', async () => {
    const db = makeDb();
    const file = join(tempDir(), 'backup.json');
    writeFileSync(file, 'old content, much longer than nothing at all '.repeat(1000), { mode: 0o644 });
    chmodSync(file, 0o644);
    expect((await jetface('gallery', 'export', '--db', db, '--out', file)).code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { people: unknown[] }).people).toHaveLength(2);
    const other = makeDb();
    chmodSync(other, 0o644);
    expect((await jetface('gallery', 'import', '--db', other, '--in', file)).code).toBe(0);
    expect(statSync(other).mode & 0o777).toBe(0o600);
  });

  test('a missing, corrupt or foreign file is an error with its code, and ls creates nothing', async () => {
    const missing = join(tempDir(), 'none.db');
    const r = await jetface('gallery', 'ls', '--db', missing);
    expect(r.code).toBe(1);
    expect(existsSync(missing)).toBe(false);
    const junk = join(tempDir(), 'junk.db');
    writeFileSync(junk, 'hello, this is not a database at all, just some text bytes\n'.repeat(100));
    const c = await jetface('gallery', 'ls', '--db', junk);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('E_GALLERY_CORRUPT');
    const nb = await jetface('gallery', 'ls', '--db', makeDb(), '--bundle', join(tempDir(), 'no-bundle'));
    expect(nb.code).toBe(1);
    expect(nb.stderr).toContain('E_BUNDLE_NOT_FOUND');
  });
});
