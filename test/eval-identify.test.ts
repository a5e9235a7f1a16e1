/**
 * `evaluateIdentification` and `jetface eval identify` on real photos: the reference cascade, a
 * gallery of 4 BBT people × 2 photos, probes = 2 other photos of each plus 2 of a fifth person who
 * is not enrolled.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { main } from '../sdk/cli/main';
import { FaceEngine } from '../sdk/engine/face-engine';
import { InputFileError, JetfaceError } from '../sdk/errors';
import { evaluateIdentification, type IdentificationResult } from '../sdk/eval/identification';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

const ENROLLED = ['amy', 'howard', 'penny', 'sheldon'];
const STRANGER = 'stuart';

/** Copies `<name><i>.png` of BBT person `name` into `<root>/<name>/`. */
function copyPhotos(root: string, name: string, indices: number[]): void {
  mkdirSync(join(root, name), { recursive: true });
  for (const i of indices) copyFileSync(dataPath('people', 'bbt', name, `${name}${i}.png`), join(root, name, `${name}${i}.png`));
}

/** Runs the CLI in-process; returns its exit status and what it printed. */
async function jetface(...args: string[]): Promise<{ status: number; stdout: string[]; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((s: string) => void stdout.push(String(s)));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (stderr.push(String(s)), true));
  try {
    const status = await main(['node', 'jetface', ...args]);
    return { status, stdout, stderr: stderr.join('') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

async function rejection(promise: Promise<unknown>): Promise<JetfaceError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(JetfaceError);
  return error as JetfaceError;
}

describeWithData('1:N identification benchmark (reference cascade, BBT photos)', () => {
  let bundle: string;
  let engine: FaceEngine;
  let dir: string;
  let gallery: string;
  let probes: string;

  beforeAll(async () => {
    bundle = await makeCascadeBundle();
    engine = await FaceEngine.create(bundle);
    dir = tempDir('jetface-identify-test-');
    gallery = join(dir, 'gallery');
    probes = join(dir, 'probes');
    for (const name of ENROLLED) {
      copyPhotos(gallery, name, [1, 2]);
      copyPhotos(probes, name, [3, 4]);
    }
    copyPhotos(probes, STRANGER, [1, 2]);
  });

  afterAll(async () => {
    await engine?.close();
  });

  it('names every enrolled person, never names the stranger, never gives a wrong name', async () => {
    const r = await evaluateIdentification(engine, gallery, probes);
    expect(r.threshold).toBe(engine.manifest.thresholds.match);
    expect(r.threshold_from).toBe('manifest.thresholds.match');
    expect(r.gallery).toEqual({ people: 4, photos: 8, enrolled_photos: 8 });
    expect(r.enroll_refused).toEqual([]);
    expect([r.probes, r.enrolled_probes, r.stranger_probes]).toEqual([10, 8, 2]);
    expect(r.no_face).toBe(0);
    expect(r.rank1_rate).toBe(1);
    expect(r.identified).toBe(8);
    expect(r.wrong_names).toBe(0);
    expect(r.strangers_named_rate).toBe(0);
    expect(r.strangers_named).toBe(0);
    const stuart = r.people.find((p) => p.person_id === STRANGER);
    expect(stuart).toMatchObject({ enrolled: false, enrolled_photos: 0, probes: 2, strangers_named: 0, not_named: 2 });
    expect(r.people.find((p) => p.person_id === 'amy')).toMatchObject({ enrolled: true, enrolled_photos: 2, probes: 2, identified: 2, wrong_names: 0 });
    for (const p of r.probe_results.filter((x) => x.enrolled)) expect(p).toMatchObject({ outcome: 'identified', named: p.person_id, status: 'known' });
  });

  it('--threshold overrides the bundle: at cosine 0.99 nobody is named', async () => {
    const r = await evaluateIdentification(engine, gallery, probes, { threshold: 0.99 });
    expect([r.threshold, r.threshold_from]).toEqual([0.99, 'option']);
    expect([r.rank1_rate, r.identified, r.not_named, r.wrong_names, r.strangers_named_rate]).toEqual([0, 0, 8, 0, 0]);
  });

  it('jetface eval identify --json prints one object with the rates and per-person detail; text by default', async () => {
    const r = await jetface('eval', 'identify', '--bundle', bundle, '--gallery', gallery, '--probes', probes, '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toHaveLength(1);
    const report = JSON.parse(r.stdout[0]!) as IdentificationResult & { bundle: string; settings: { minScore: { value: number; from: string } } };
    expect(report).toMatchObject({ rank1_rate: 1, strangers_named_rate: 0, wrong_names: 0, no_face: 0, enroll_refused: [] });
    expect(report.settings.minScore).toEqual({ value: engine.manifest.thresholds.detection, from: 'manifest.thresholds.detection' });
    expect(report.people.map((p) => p.person_id)).toEqual([...ENROLLED, STRANGER]);
    const text = await jetface('eval', 'identify', '--bundle', bundle, '--gallery', gallery, '--probes', probes, '--threshold', '0.99');
    expect(text.status).toBe(0);
    expect(text.stdout[0]).toMatch(/threshold 0\.99 \(flag\)/);
    expect(text.stdout.join('\n')).toMatch(/rank-1 0\.0% \(0 of 8 probes of enrolled people; 8 not named\)/);
  });

  it('a missing folder or a gallery without people is a typed error naming the path, before any detection', async () => {
    const missing = join(dir, 'no-such-folder');
    const e1 = await rejection(evaluateIdentification(engine, missing, probes));
    expect(e1).toBeInstanceOf(InputFileError);
    expect(e1.code).toBe('E_INPUT_FILE');
    expect(e1.message).toContain(missing);
    const e2 = await rejection(evaluateIdentification(engine, gallery, missing));
    expect(e2.message).toContain(missing);
    expect(e2.message).toContain('probes folder');

    const empty = join(dir, 'empty');
    mkdirSync(join(empty, 'nobody'), { recursive: true }); // a person folder with no image is no person
    const e3 = await rejection(evaluateIdentification(engine, empty, probes));
    expect(e3.code).toBe('E_INPUT_FILE');
    expect(e3.message).toContain(empty);
    expect(e3.message).toMatch(/no person sub-folder with images/);

    const cli = await jetface('eval', 'identify', '--bundle', bundle, '--gallery', missing, '--probes', probes);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`^jetface: E_INPUT_FILE: ${missing}: cannot read the gallery folder`));
  });

  it('a gallery whose every photo is refused is E_NOTHING_ENROLLED with the reasons', async () => {
    const blank = join(dir, 'blank');
    mkdirSync(join(blank, 'grey'), { recursive: true });
    await sharp({ create: { width: 200, height: 200, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toFile(join(blank, 'grey', 'grey.png'));
    const e = await rejection(evaluateIdentification(engine, blank, probes));
    expect(e.code).toBe('E_NOTHING_ENROLLED');
    expect(e.message).toContain('grey.png: no_face');
  });
});
