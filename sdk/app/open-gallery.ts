import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BundleManifest } from '../bundle/manifest';
import type { DeviceConfig } from '../config/schema';
import { embeddingSpaceId } from '../gallery/model-id';
import { SqliteGallery } from '../gallery/sqlite-gallery';
import type { Gallery } from '../gallery/types';

/**
 * Opens the configured SQLite gallery for the engine's embedding space, creating the file (and
 * its folder) when missing. The match threshold is the configured one, else the bundle's.
 *
 * @example
 * ```ts
 * const gallery = await openGallery(config, engine.manifest);
 * ```
 */
export async function openGallery(config: DeviceConfig, manifest: BundleManifest): Promise<Gallery> {
  await mkdir(dirname(config.gallery.path), { recursive: true });
  return SqliteGallery.open(config.gallery.path, {
    modelId: embeddingSpaceId(manifest),
    threshold: config.gallery.threshold ?? manifest.thresholds.match,
    margin: config.gallery.margin,
    keepFaceImages: config.gallery.keepFaceImages,
  });
}
