import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BundleNotFoundError, ChecksumError, ManifestError } from '../errors';
import { parseManifest, type BundleManifest } from './manifest';

/** A model file of a bundle, verified against the manifest. */
export interface BundleModelFile {
  role: 'model' | 'detector' | 'recognizer';
  path: string;
  sha256: string;
}

/** A validated bundle: its folder, manifest and the absolute paths of its checked model files. */
export interface ModelBundle {
  dir: string;
  manifest: BundleManifest;
  modelFiles: BundleModelFile[];
}

export const MANIFEST_FILE = 'manifest.json';

/**
 * Reads and validates a bundle folder: the manifest strictly, then each model file's sha256.
 *
 * @example
 * ```ts
 * const bundle = await loadBundle('models/jetface-s');
 * console.log(bundle.manifest.kind, bundle.modelFiles.map((f) => f.path));
 * ```
 */
export async function loadBundle(dir: string, options: { verifyChecksums?: boolean } = {}): Promise<ModelBundle> {
  const root = resolve(dir);
  const manifestPath = join(root, MANIFEST_FILE);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new BundleNotFoundError(`model bundle folder ${root} does not exist`, { dir: root });

  const text = await readFile(manifestPath, 'utf8').catch(() => {
    throw new BundleNotFoundError(`model bundle ${root} has no ${MANIFEST_FILE}`, { dir: root, file: manifestPath });
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(manifestPath, [{ path: '', message: `not valid JSON (${(error as Error).message})` }]);
  }
  const manifest = parseManifest(json, manifestPath);
  const modelFiles = listModelFiles(manifest).map((f) => ({ ...f, path: join(root, f.file) }));

  for (const file of modelFiles) {
    const present = await stat(file.path).catch(() => undefined);
    if (!present?.isFile()) throw new BundleNotFoundError(`model bundle ${root} lacks ${file.role} file ${file.path}`, { dir: root, file: file.path });
    if (options.verifyChecksums !== false) {
      const actual = await sha256File(file.path);
      if (actual !== file.sha256) throw new ChecksumError(file.path, file.sha256, actual);
    }
  }
  return { dir: root, manifest, modelFiles: modelFiles.map(({ role, path, sha256 }) => ({ role, path, sha256 })) };
}

function listModelFiles(manifest: BundleManifest): { role: BundleModelFile['role']; file: string; sha256: string }[] {
  if (manifest.kind === 'joint') return [{ role: 'model', file: manifest.model.file, sha256: manifest.model.sha256 }];
  return [
    { role: 'detector', file: manifest.detector.file, sha256: manifest.detector.sha256 },
    { role: 'recognizer', file: manifest.recognizer.file, sha256: manifest.recognizer.sha256 },
  ];
}

/** Streams a file through sha256 (model files can be large; never read whole into memory twice). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
