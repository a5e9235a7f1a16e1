import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, sha256File } from '../../sdk/bundle/load-bundle';
import { parseManifest, type BundleManifest, type BundleManifestInput } from '../../sdk/bundle/manifest';
import { version as toolchainVersion } from '../../package.json';

/** Copies `source` into the bundle folder as `name` and returns its sha256. */
export async function addModelFile(outDir: string, source: string, name: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const target = join(outDir, name);
  await rm(target, { force: true });
  await copyFile(source, target);
  await chmod(target, 0o644); // the source may be read-only; the bundle is ours to replace
  return sha256File(target);
}

/**
 * Validates a manifest with the SDK's own schema (so the toolchain can never write a bundle the
 * SDK refuses), stamps provenance, and writes manifest.json and MODEL_CARD.md.
 */
export async function writeBundleFiles(outDir: string, manifest: BundleManifestInput, modelCard: string): Promise<BundleManifest> {
  const stamped: BundleManifestInput = {
    ...manifest,
    provenance: {
      ...manifest.provenance,
      toolchainVersion: `jetface ${toolchainVersion}`,
      ...(gitRevision() ? { gitRevision: gitRevision()! } : {}),
      createdAt: new Date().toISOString(),
    },
  };
  const parsed = parseManifest(stamped, join(outDir, MANIFEST_FILE));
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, MANIFEST_FILE), `${JSON.stringify(parsed, null, 2)}\n`);
  await writeFile(join(outDir, 'MODEL_CARD.md'), modelCard);
  return parsed;
}

let revision: string | null | undefined;
function gitRevision(): string | null {
  if (revision === undefined) {
    try {
      revision = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'], cwd: __dirname }).toString().trim() || null;
    } catch {
      revision = null;
    }
  }
  return revision;
}
