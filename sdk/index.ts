/**
 * jetface SDK: face detection + recognition in one pass, for Jetson-class edge devices.
 *
 * @example
 * ```ts
 * import { FaceEngine, loadImageFrame } from 'jetface';
 * const engine = await FaceEngine.create('models/jetface-s');
 * const faces = await engine.detect(await loadImageFrame('photo.jpg'));
 * ```
 */
export * from './errors';
export * from './types';
export { FaceEngine, type FaceEngineOptions, type EngineInfo, type DetectResult } from './engine/face-engine';
export { DEFAULT_PROVIDER_ORDER, EXECUTION_PROVIDERS, type ExecutionProviderName, type ProviderAttempt } from './engine/providers';
export { loadBundle, sha256File, MANIFEST_FILE, type ModelBundle, type BundleModelFile } from './bundle/load-bundle';
export { parseManifest, MANIFEST_FORMAT_VERSION, type BundleManifest, type BundleManifestInput, type CascadeManifest, type JointManifest, type TensorInputSpec } from './bundle/manifest';
export { loadImageFrame, type LoadImageOptions } from './image/decode';
export { assertValidFrame } from './image/frame';
export { ARCFACE_112_TEMPLATE, estimateSimilarity } from './engine/align';
export { boxIou, nonMaxSuppression } from './engine/nms';
