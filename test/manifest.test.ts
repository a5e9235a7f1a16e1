import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBundle, sha256File } from '../sdk/bundle/load-bundle';
import { parseManifest } from '../sdk/bundle/manifest';
import { BundleNotFoundError, ChecksumError, ManifestError, JetfaceError } from '../sdk/errors';
import { tempDir } from './support/data';

const SHA = 'a'.repeat(64);
const input = { name: 'image', width: 320, height: 320, layout: 'nhwc', dtype: 'uint8', colorOrder: 'rgb' };

function jointManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'jetface-bundle',
    formatVersion: 1,
    name: 'test-joint',
    kind: 'joint',
    modelId: 'test-joint:1',
    precision: 'fp32',
    embeddingDim: 128,
    thresholds: { detection: 0.5, nmsIou: 0.4, match: 0.45 },
    model: { file: 'model.onnx', sha256: SHA },
    input,
    outputs: { scores: 'scores', boxes: 'boxes', landmarks: 'landmarks', embeddings: 'embeddings' },
    topK: 200,
    ...overrides,
  };
}

function issuesOf(value: unknown): { path: string; message: string }[] {
  try {
    parseManifest(value, 'm.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).code).toBe('E_MANIFEST_INVALID');
    return [...(error as ManifestError).issues];
  }
  throw new Error('expected the manifest to be refused');
}

describe('parseManifest', () => {
  test('accepts a valid joint manifest and fills defaults', () => {
    const m = parseManifest(jointManifest());
    expect(m.kind).toBe('joint');
    expect(m.maxFaces).toBe(200);
    if (m.kind !== 'joint') throw new Error('kind');
    expect(m.input.mean).toEqual([0, 0, 0]);
    expect(m.input.resize).toBe('letterbox');
  });

  test('a joint manifest may name the embedding space it reproduces, as a model id', () => {
    const m = parseManifest(jointManifest({ embeddingSpace: 'jetface-s:baa264a4ef49' }));
    expect(m.kind === 'joint' && m.embeddingSpace).toBe('jetface-s:baa264a4ef49');
    expect(issuesOf(jointManifest({ embeddingSpace: 'not a model id!' })).map((i) => i.path)).toEqual(['embeddingSpace']);
  });

  test('refuses unknown keys, naming their path', () => {
    const issues = issuesOf(jointManifest({ thresholds: { detection: 0.5, nmsIou: 0.4, match: 0.45, nms: 0.3 }, extra: 1 }));
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'thresholds', message: expect.stringContaining('"nms"') }),
        expect.objectContaining({ path: '', message: expect.stringContaining('"extra"') }),
      ]),
    );
  });

  test('refuses out-of-range values with the path, the bound and the value found', () => {
    const issues = issuesOf(jointManifest({ thresholds: { detection: 1.5, nmsIou: 0.4, match: 0.45 }, input: { ...input, width: 5 } }));
    const detection = issues.find((i) => i.path === 'thresholds.detection');
    expect(detection?.message).toMatch(/1/);
    expect(detection?.message).toMatch(/got 1\.5/);
    expect(issues.find((i) => i.path === 'input.width')?.message).toMatch(/got 5/);
  });

  test('names a missing field', () => {
    const m = jointManifest();
    delete m['topK'];
    expect(issuesOf(m)).toEqual([expect.objectContaining({ path: 'topK', message: expect.stringContaining('missing') })]);
  });

  test('refuses a kind it does not know, a bad checksum format and a path-escaping file name', () => {
    expect(issuesOf(jointManifest({ kind: 'triple' }))[0]?.path).toBe('kind');
    const issues = issuesOf(jointManifest({ model: { file: '../model.onnx', sha256: 'xyz' } }));
    expect(issues.map((i) => i.path).sort()).toEqual(['model.file', 'model.sha256']);
  });

  test('refuses a newer format version with advice to upgrade', () => {
    expect(issuesOf(jointManifest({ formatVersion: 2 }))[0]?.message).toMatch(/upgrade jetface/);
  });

  test('the error message lists every issue on its own line', () => {
    expect(() => parseManifest(jointManifest({ embeddingDim: 0, precision: 'int4' }), 'x/manifest.json')).toThrow(
      /invalid bundle manifest x\/manifest\.json:\n  - (embeddingDim|precision): .*\n  - (embeddingDim|precision): /,
    );
  });
});

describe('loadBundle', () => {
  function writeBundle(model: Buffer): string {
    const dir = tempDir();
    writeFileSync(join(dir, 'model.onnx'), model);
    return dir;
  }

  test('a missing folder is a BundleNotFoundError', async () => {
    await expect(loadBundle('/nonexistent/bundle')).rejects.toMatchObject({ code: 'E_BUNDLE_NOT_FOUND' });
  });

  test('invalid JSON is a ManifestError, not a SyntaxError', async () => {
    const dir = writeBundle(Buffer.from('x'));
    writeFileSync(join(dir, 'manifest.json'), '{ "format": ');
    const error = await loadBundle(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).message).toMatch(/not valid JSON/);
  });

  test('checks the model file against its sha256', async () => {
    const dir = writeBundle(Buffer.from('model bytes'));
    const sha = await sha256File(join(dir, 'model.onnx'));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(jointManifest({ model: { file: 'model.onnx', sha256: sha } })));
    const bundle = await loadBundle(dir);
    expect(bundle.modelFiles).toEqual([{ role: 'model', path: join(dir, 'model.onnx'), sha256: sha }]);

    truncateSync(join(dir, 'model.onnx'), 3);
    const error = await loadBundle(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumError);
    expect(error).toBeInstanceOf(JetfaceError);
    expect((error as ChecksumError).details).toMatchObject({ expected: sha });
    expect(readFileSync(join(dir, 'model.onnx')).length).toBe(3); // nothing was "repaired"
  });

  test('a model file named by the manifest but absent is reported', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(jointManifest()));
    const error = await loadBundle(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BundleNotFoundError);
    expect((error as Error).message).toMatch(/lacks model file/);
  });
});
