/**
 * The `jetface` command line, run as a real subprocess (through tsx, as `npm run jetface` does):
 * flags, JSON output shapes, exit statuses and error codes, on real images and the reference
 * cascade bundle.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parsePasswordHash, verifyPassword } from '../sdk/console/password';
import type { DetectionMetrics } from '../sdk/eval/detection';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

const PROJECT_ROOT = resolve(__dirname, '..');
const TSX = require.resolve('tsx/cjs');
const TEST_TIMEOUT = 120_000;

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `jetface ARGS` in the project root and waits for it. */
function jetface(...args: string[]): CliResult {
  return jetfaceWithInput(undefined, ...args);
}

/** Runs `jetface ARGS` with `input` piped on stdin (not a terminal). */
function jetfaceWithInput(input: string | undefined, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--require', TSX, 'sdk/cli/main.ts', ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 100_000,
    ...(input !== undefined ? { input } : {}),
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** stdout as one JSON object per non-blank line. */
function jsonLines(r: CliResult): unknown[] {
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
}

/** Exit status 0, else fail showing stderr (far more useful than "expected 0, got 1"). */
function expectOk(r: CliResult): void {
  if (r.status !== 0) throw new Error(`jetface exited with ${r.status}:\n${r.stderr}`);
}

interface FaceJson {
  box: number[];
  score: number;
  landmarks: number[][];
}

interface DetectJson {
  image: string;
  width: number;
  height: number;
  faces: FaceJson[];
}

/** `eval detect --json` prints the metrics object plus the bundle name and ignored boxes. */
type DetectEvalJson = DetectionMetrics & { bundle: string; ignoredBoxes: number };

interface VerifyJson {
  pairs: number;
  failedPairs: number;
  imagesWithoutFace: number;
  accuracy: number;
  threshold: number;
  tarAtFar1e3: number;
}

interface BenchJson {
  image: string;
  faces: number;
  runs: number;
  median_ms: number;
  p90_ms: number;
  stages_median_ms: Record<string, number>;
  recognizer_ms_per_face?: number;
}

/** Face counts per image in WIDER ground-truth text: path line, count line, that many box lines. */
function widerCounts(text: string): Map<string, number> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const counts = new Map<string, number>();
  for (let i = 0; i < lines.length; ) {
    const path = lines[i]!;
    const count = Number(lines[i + 1]);
    counts.set(path, count);
    i += 2 + count;
  }
  return counts;
}

describeWithData('jetface CLI', () => {
  let bundle: string;
  let work: string;

  beforeAll(async () => {
    bundle = await makeCascadeBundle();
    work = tempDir('jetface-cli-');
  }, TEST_TIMEOUT);

  afterAll(() => {
    if (bundle) rmSync(bundle, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test(
    'detect --json prints one object per image with box, score and 5 landmarks per face',
    () => {
      const images = [dataPath('scenes', 'bbt1.jpg'), dataPath('scenes', 'two_people.jpg')];
      const r = jetface('detect', '--bundle', bundle, '--json', ...images);
      expectOk(r);
      const out = jsonLines(r) as DetectJson[];
      expect(out).toHaveLength(2);
      expect(out.map((o) => o.image)).toEqual(images);
      expect(out.map((o) => o.faces.length)).toEqual([4, 2]);
      for (const o of out) {
        expect(o.width).toBeGreaterThan(0);
        expect(o.height).toBeGreaterThan(0);
        for (const f of o.faces) {
          expect(f.box).toHaveLength(4);
          for (const v of f.box) expect(Number.isFinite(v)).toBe(true);
          const [x1, y1, x2, y2] = f.box as [number, number, number, number];
          expect(x2).toBeGreaterThan(x1);
          expect(y2).toBeGreaterThan(y1);
          expect(x1).toBeGreaterThanOrEqual(0);
          expect(x2).toBeLessThanOrEqual(o.width);
          expect(typeof f.score).toBe('number');
          expect(f.score).toBeGreaterThan(0);
          expect(f.score).toBeLessThanOrEqual(1);
          expect(f.landmarks).toHaveLength(5);
          for (const p of f.landmarks) {
            expect(p).toHaveLength(2);
            for (const v of p) expect(Number.isFinite(v)).toBe(true);
          }
        }
      }
    },
    TEST_TIMEOUT,
  );

  test(
    "detect --wider writes ground truth that eval detect accepts: the model's own boxes score 1, an extra face lowers recall",
    () => {
      const root = dataPath('scenes');
      const names = ['bbt1.jpg', 'two_people.jpg', 'group-4.jpg'];
      const wider = jetface('detect', '--bundle', bundle, '--wider', root, ...names.map((n) => join(root, n)));
      expectOk(wider);
      const counts = widerCounts(wider.stdout);
      expect([...counts.keys()]).toEqual(names);
      expect(counts.get('bbt1.jpg')).toBe(4);
      expect(counts.get('two_people.jpg')).toBe(2);
      const total = [...counts.values()].reduce((a, b) => a + b, 0);

      const gt = join(work, 'gt.txt');
      writeFileSync(gt, wider.stdout);
      const same = jetface('eval', 'detect', '--bundle', bundle, '--gt', gt, '--root', root, '--json');
      expectOk(same);
      const m = jsonLines(same)[0] as DetectEvalJson;
      expect(m).toMatchObject({ images: 3, groundTruth: total, detections: total, truePositives: total, falsePositives: 0, falseNegatives: 0, iouThreshold: 0.5 });
      expect(m.recall).toBe(1);
      expect(m.precision).toBe(1);
      expect(m.ap).toBeGreaterThan(0.99);
      expect(m.ap).toBeLessThanOrEqual(1);

      // One more annotated "face": a 12x12 box in the top-left corner of two_people.jpg, where
      // no face is (its faces start at x 240). It can only be missed.
      const lines = wider.stdout.split('\n');
      const at = lines.indexOf('two_people.jpg');
      expect(at).toBeGreaterThanOrEqual(0);
      lines[at + 1] = String(Number(lines[at + 1]) + 1);
      lines.splice(at + 2, 0, '2 2 12 12');
      const gtExtra = join(work, 'gt-extra.txt');
      writeFileSync(gtExtra, lines.join('\n'));
      const extra = jetface('eval', 'detect', '--bundle', bundle, '--gt', gtExtra, '--root', root, '--json');
      expectOk(extra);
      const m2 = jsonLines(extra)[0] as DetectEvalJson;
      expect(m2).toMatchObject({ images: 3, groundTruth: total + 1, detections: total, truePositives: total, falsePositives: 0, falseNegatives: 1 });
      expect(m2.recall).toBeLessThan(1);
      expect(m2.recall).toBeCloseTo(total / (total + 1), 4);
      expect(m2.precision).toBe(1);
    },
    TEST_TIMEOUT,
  );

  describe('eval verify', () => {
    const lfwRoot = dataPath('lfw', 'images');

    /** The first 10 same-person and 10 different-person pairs of pairsDevTrain.txt, interleaved. */
    function smallPairList(): string[] {
      const rows = readFileSync(dataPath('lfw', 'pairsDevTrain.txt'), 'utf8')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== '');
      const same = rows.filter((l) => l.split(/\s+/).length === 3).slice(0, 10);
      const different = rows.filter((l) => l.split(/\s+/).length === 4).slice(0, 10);
      expect(same).toHaveLength(10);
      expect(different).toHaveLength(10);
      return same.flatMap((s, i) => [s, different[i]!]);
    }

    test(
      'reports 10-fold accuracy over a 20-pair list',
      () => {
        const pairs = join(work, 'pairs20.txt');
        writeFileSync(pairs, ['20', ...smallPairList()].join('\n') + '\n');
        const r = jetface('eval', 'verify', '--bundle', bundle, '--pairs', pairs, '--root', lfwRoot, '--json');
        expectOk(r);
        const out = jsonLines(r);
        expect(out).toHaveLength(1);
        const v = out[0] as VerifyJson;
        expect(v.pairs).toBe(20);
        expect(typeof v.failedPairs).toBe('number');
        expect(v.failedPairs).toBeGreaterThanOrEqual(0);
        expect(v.failedPairs).toBeLessThanOrEqual(20);
        expect(typeof v.imagesWithoutFace).toBe('number');
        expect(v.accuracy).toBeGreaterThanOrEqual(0.7);
        expect(v.accuracy).toBeLessThanOrEqual(1);
        expect(Number.isFinite(v.threshold)).toBe(true);
        expect(v.tarAtFar1e3).toBeGreaterThanOrEqual(0);
        expect(v.tarAtFar1e3).toBeLessThanOrEqual(1);
      },
      TEST_TIMEOUT,
    );

    test(
      'fails with a coded error naming the image when a pair names a person who is not there',
      () => {
        const pairs = join(work, 'pairs-missing.txt');
        writeFileSync(pairs, ['No_Such_Person 1 2', ...smallPairList()].join('\n') + '\n');
        const r = jetface('eval', 'verify', '--bundle', bundle, '--pairs', pairs, '--root', lfwRoot, '--json');
        expect(r.status).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(/^jetface: E_INPUT_FILE: /);
        expect(r.stderr).toContain('No_Such_Person_0001.jpg');
        expect(r.stderr).toMatch(/2 of \d+ images it names are missing \(check --root\)/);
        expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
      },
      TEST_TIMEOUT,
    );

    test(
      'refuses a malformed pair list, naming the line',
      () => {
        const pairs = join(work, 'pairs-bad.txt');
        writeFileSync(pairs, 'foo\n');
        const r = jetface('eval', 'verify', '--bundle', bundle, '--pairs', pairs, '--root', lfwRoot, '--json');
        expect(r.status).toBe(1);
        expect(r.stderr).toContain('E_INPUT_FILE');
        expect(r.stderr).toContain(pairs);
        expect(r.stderr).toContain('line 1');
      },
      TEST_TIMEOUT,
    );
  });

  test(
    'bench engine --json reports latency percentiles and the stage split',
    () => {
      const r = jetface('bench', 'engine', '--bundle', bundle, '--runs', '3', '--json', dataPath('scenes', 'two_people.jpg'));
      expectOk(r);
      const out = jsonLines(r);
      expect(out).toHaveLength(1);
      const b = out[0] as BenchJson;
      expect(b.image).toBe('two_people.jpg');
      expect(b.faces).toBe(2);
      expect(b.runs).toBe(3);
      expect(b.median_ms).toBeGreaterThan(0);
      expect(b.p90_ms).toBeGreaterThanOrEqual(b.median_ms);
      expect(b.stages_median_ms).toEqual(expect.objectContaining({ detector: expect.any(Number), recognizer: expect.any(Number) }));
      expect(b.stages_median_ms['detector']).toBeGreaterThan(0);
      expect(b.stages_median_ms['recognizer']).toBeGreaterThan(0);
      expect(b.recognizer_ms_per_face).toBeGreaterThan(0);
      expect(b.recognizer_ms_per_face).toBeCloseTo(b.stages_median_ms['recognizer']! / 2, 1);
    },
    TEST_TIMEOUT,
  );

  test(
    'bench engine --baseline times a second bundle in the same process and reports the speed-up',
    () => {
      const defaultBundle = resolve(PROJECT_ROOT, 'models', 'jetface-s');
      const r = jetface('bench', 'engine', '--bundle', defaultBundle, '--baseline', bundle, '--runs', '3', '--json', dataPath('scenes', 'two_people.jpg'));
      expectOk(r);
      const b = jsonLines(r)[0] as BenchJson & { baseline: { bundle: string; faces: number; median_ms: number }; speedup_vs_baseline: number };
      expect(b.baseline.bundle).toMatch(/cascade/);
      expect(b.baseline.faces).toBe(2);
      expect(b.speedup_vs_baseline).toBeCloseTo(b.baseline.median_ms / b.median_ms, 2);
    },
    TEST_TIMEOUT,
  );

  describe('errors', () => {
    test(
      'a missing bundle folder exits 1 with E_BUNDLE_NOT_FOUND',
      () => {
        const r = jetface('detect', '--bundle', '/nonexistent', dataPath('scenes', 'bbt1.jpg'));
        expect(r.status).toBe(1);
        expect(r.stderr).toContain('E_BUNDLE_NOT_FOUND');
        expect(r.stderr).toContain('/nonexistent');
      },
      TEST_TIMEOUT,
    );

    test(
      'a manifest with an unknown key exits 1 with E_MANIFEST_INVALID naming the key and its place',
      () => {
        const copy = join(work, 'bad-manifest-bundle');
        cpSync(bundle, copy, { recursive: true });
        const manifestPath = join(copy, 'manifest.json');
        const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { detector: { input: Record<string, unknown> } };
        manifest.detector.input['colourSpaceHint'] = 'srgb';
        writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
        const r = jetface('detect', '--bundle', copy, dataPath('scenes', 'bbt1.jpg'));
        expect(r.status).toBe(1);
        expect(r.stderr).toContain('E_MANIFEST_INVALID');
        expect(r.stderr).toContain('colourSpaceHint');
        expect(r.stderr).toContain('detector.input');
      },
      TEST_TIMEOUT,
    );
  });
});

describe('jetface CLI usage errors', () => {
  test(
    'an unknown command exits 2',
    () => {
      const r = jetface('frobnicate');
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("unknown command 'frobnicate'");
    },
    TEST_TIMEOUT,
  );
});

describe('jetface console passwd', () => {
  const PASSWORD = 'correct horse battery staple';

  test(
    'a password piped on stdin: the scrypt hash on stdout verifies it (and nothing else); the password is printed nowhere',
    async () => {
      const r = jetfaceWithInput(`${PASSWORD}\nignored second line\n`, 'console', 'passwd');
      expectOk(r);
      const lines = r.stdout.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^scrypt\$\d+\$\d+\$\d+\$/);
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      const hash = parsePasswordHash(lines[0]!, 'stdout');
      expect(await verifyPassword(hash, PASSWORD)).toBe(true);
      expect(await verifyPassword(hash, 'ignored second line')).toBe(false);
      expect(await verifyPassword(hash, `${PASSWORD} `)).toBe(false);
    },
    TEST_TIMEOUT,
  );

  test(
    '--out FILE writes the hash to a file of mode 0600 and says how to configure it',
    async () => {
      const out = join(tempDir(), 'console.hash');
      const r = jetfaceWithInput(`${PASSWORD}\n`, 'console', 'passwd', '--out', out);
      expectOk(r);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`console.passwordHashFile: ${out}`);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      const hash = parsePasswordHash(readFileSync(out, 'utf8'), out);
      expect(await verifyPassword(hash, PASSWORD)).toBe(true);
    },
    TEST_TIMEOUT,
  );

  test(
    'a password shorter than 8 characters exits 1 with E_CONSOLE and writes no file',
    () => {
      const out = join(tempDir(), 'console.hash');
      const r = jetfaceWithInput('short\n', 'console', 'passwd', '--out', out);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/E_CONSOLE: a console password has 8 to 1024 characters/);
      expect(() => statSync(out)).toThrow();
    },
    TEST_TIMEOUT,
  );
});
