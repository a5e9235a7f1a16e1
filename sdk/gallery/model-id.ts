import type { BundleManifest } from '../bundle/manifest';

/**
 * The embedding space a bundle's embeddings live in: a pruned bundle names the space it reproduces
 * (`embeddingSpace`, kept by its quantized copies), a quantized bundle keeps its float source's
 * space (its embeddings stay comparable with the source's), any other bundle is its own space.
 * A gallery is opened with this id and matches only embeddings enrolled under it.
 *
 * @example
 * ```ts
 * const gallery = SqliteGallery.open('gallery.db', { modelId: embeddingSpaceId(engine.manifest) });
 * ```
 */
export function embeddingSpaceId(
  manifest: Pick<BundleManifest, 'modelId'> & { quantization?: { sourceModelId: string } | undefined; embeddingSpace?: string | undefined },
): string {
  return manifest.embeddingSpace ?? manifest.quantization?.sourceModelId ?? manifest.modelId;
}
