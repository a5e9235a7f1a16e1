import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BundleManifest } from '../../sdk/bundle/manifest';
import { ContractError } from '../../sdk/errors';
import { addModelFile, writeBundleFiles } from '../bundle/write-bundle';
import { checkExport, type ExportCheck } from './check-export';

/** What the trainer wrote beside model.onnx (export.json). */
interface ExportInfo {
  /** The network design (`v3`: stem and branches initialized from the reference models); absent before v3. */
  design?: string;
  size: number;
  /** Dynamic input: any multiple of 32 from `size` up to this (export_v3.py --max-size). */
  max_size?: number;
  top_k: number;
  opset: number;
  gflops: number;
  params: number;
  /** Design v3 and later: score threshold and NMS run in the graph (K ≤ top_k faces out). */
  nms?: { scoreThreshold: number; iouThreshold: number };
  /** Fixed-K export: exactly top_k faces, zero-score padding after the in-graph NMS (static shapes). */
  fixed_k?: boolean;
  /** The in-graph score floor of a fixed-K export. */
  score_floor?: number;
  /** Per-face work of the recognition body (GFLOPs for one face). */
  gflops_per_face?: number;
  /** Design v3: the adapter between the sampled stem and the body ('1x1', '3x3' or '3x3s2'; older exports have none and are '1x1'). */
  adapter?: string;
}

export interface JointBundleOptions {
  /** The training output folder: model.onnx, export.json, reference/, train.log (optional). */
  from: string;
  out: string;
  name?: string;
  thresholds?: { detection?: number; nmsIou?: number; match?: number };
  /** Measured numbers to record in the manifest and model card. */
  metrics?: Record<string, number | string | boolean>;
  description?: string;
  /** How evaluation commands run this bundle when no flag is given (manifest `evaluation`). */
  evaluation?: BundleManifest['evaluation'];
  /** Markdown appended to the model card (e.g. how the match threshold was chosen). */
  notes?: string;
}

/** Training data and terms that travel with every model trained on ../shared/data. */
export const TRAINING_DATA = [
  'LFW: only the 4,177 images of lfw/train_images.txt (no image of any evaluation pair list), as 90x90 crops',
  'CelebA subset: 5,071 photos of 240 identities (celeba/identities.txt)',
  'scenes/: 41 group photos',
  'labels: boxes, landmarks and embeddings from the reference cascade teacher (YuNet 2023mar + MobileFaceNet)',
];
export const TRAINING_TERMS = [
  'LFW (UMass Amherst): research use',
  'CelebA: non-commercial research use only',
  'scenes/ photos carry no stated license: test use only',
  'Teacher models: YuNet (MIT / Apache-2.0); MobileFaceNet weights (Apache-2.0 repository, trained on MS1M-derived data, research)',
];

/** Where v3's starting weights come from: they are fine-tuned from these, so their terms travel too. */
export function v3Origins(adapter = '1x1'): string[] {
  return [
    'Stem and detection branch: initialized from YuNet (`yunet_s_640_640.onnx`, OpenCV Zoo; MIT / Apache-2.0), read by toolchain/train/onnx_import.py',
    `Recognition body: initialized from MobileFaceNet (\`mobilefacenet_128.onnx\`; Apache-2.0 code, weights trained on MS1M-derived data: research use), after a ${adapter} adapter fitted by toolchain/train/fit_adapter.py`,
    'Fine-tuned end to end by toolchain/train/train_v3.py (L = L_det + λ·L_rec, L_rec: mimicking of the teacher cascade\'s embedding)',
  ];
}

/**
 * Checks an exported joint model against PyTorch in onnxruntime-node, then writes it as a
 * bundle. A model that does not match its PyTorch reference is refused, not packaged.
 */
export async function writeJointBundle(options: JointBundleOptions): Promise<{ manifest: BundleManifest; check: ExportCheck }> {
  const from = resolve(options.from);
  const info = JSON.parse(await readFile(join(from, 'export.json'), 'utf8')) as ExportInfo;
  const check = await checkExport(join(from, 'model.onnx'), join(from, 'reference'));
  // A dynamic input is also checked at the second, wider size the trainer saved.
  const wide = info.max_size ? await checkExport(join(from, 'model.onnx'), join(from, 'reference-wide')) : undefined;
  for (const [what, c] of [['', check], [' at the wider reference size', wide]] as const) {
    if (c && !c.passed) {
      throw new ContractError(`${from}/model.onnx does not match PyTorch${what}: max differences ${JSON.stringify(c.maxAbsDiff)} over ${c.compared} candidates, tolerance ${JSON.stringify(c.tolerance)}`);
    }
  }
  const out = resolve(options.out);
  const sha = await addModelFile(out, join(from, 'model.onnx'), 'model.onnx');
  const name = options.name ?? 'jetface-joint';
  // The in-graph score threshold (dynamic or fixed K): faces below it never come out.
  const graphFloor = info.nms?.scoreThreshold ?? info.score_floor;
  const metrics = {
    input_size: info.size,
    gflops: info.gflops,
    ...(info.gflops_per_face !== undefined ? { gflops_per_face: info.gflops_per_face } : {}),
    params: info.params,
    export_max_abs_diff_scores: check.maxAbsDiff['scores'] ?? -1,
    export_max_abs_diff_embeddings: check.maxAbsDiff['embeddings'] ?? -1,
    ...options.metrics,
  };
  const manifest = await writeBundleFiles(
    out,
    {
      format: 'jetface-bundle',
      formatVersion: 1,
      name,
      kind: 'joint',
      modelId: `${name}:${sha.slice(0, 12)}`,
      precision: 'fp32',
      embeddingDim: 128,
      thresholds: {
        detection: graphFloor !== undefined ? Math.max(0.6, graphFloor) : 0.5,
        nmsIou: info.nms?.iouThreshold ?? 0.4,
        match: 0.4,
        ...options.thresholds,
      },
      maxFaces: Math.min(200, info.top_k),
      model: { file: 'model.onnx', sha256: sha },
      input: { name: 'image', width: info.size, height: info.size, layout: 'nhwc', dtype: 'uint8', colorOrder: 'rgb' },
      outputs: { scores: 'scores', boxes: 'boxes', landmarks: 'landmarks', embeddings: 'embeddings' },
      topK: info.top_k,
      ...(info.nms ? { inGraphNms: info.nms } : {}),
      ...(info.max_size ? { dynamicInput: { maxSide: info.max_size, multiple: 32 } } : {}),
      ...(options.evaluation ? { evaluation: options.evaluation } : {}),
      provenance: {
        description: options.description ?? 'jetface joint single-pass model',
        trainingData: info.design === 'v3' ? [...v3Origins(info.adapter), ...TRAINING_DATA] : TRAINING_DATA,
        terms: TRAINING_TERMS,
      },
      metrics,
    },
    modelCard(name, info, check, metrics, options.description, options.notes, wide),
  );
  return { manifest, check };
}

function modelCard(name: string, info: ExportInfo, check: ExportCheck, metrics: Record<string, unknown>, description?: string, notes?: string, wide?: ExportCheck): string {
  const diffs = (c: ExportCheck): string => Object.entries(c.maxAbsDiff).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ');
  const origins = info.design === 'v3' ? `\n## Origins of the weights\n\n${v3Origins(info.adapter).map((t) => `- ${t}`).join('\n')}\n` : '';
  return `# ${name}

${description ?? 'A jetface **joint** model: one pass over the frame gives every face (score, box, 5 landmarks) and its 128-D identity embedding.'}

- Input: ${info.size}x${info.size} uint8 RGB, NHWC, letterboxed by the SDK; normalization inside the graph.${info.max_size ? ` Dynamic height and width: any multiple of 32 up to ${info.max_size}, so \`inputSize: 'frame'\` feeds large frames at their own resolution.` : ''}
- Outputs: ${info.fixed_k ? `exactly ${info.top_k} faces after the in-graph score threshold ${info.score_floor} and NMS, zero-score padding (static shapes; the recognition body runs on all ${info.top_k})` : info.nms ? `the faces that survive the in-graph score threshold ${info.nms.scoreThreshold} and NMS at IoU ${info.nms.iouThreshold} (at most ${info.top_k}; the recognition body runs on those only)` : `top-${info.top_k} candidates`} (scores, boxes, landmarks, L2-normalized embeddings), decoded in the graph.
- Size: ${info.params.toLocaleString('en-US')} parameters, ${info.gflops} GFLOPs at ${info.size}x${info.size}; ONNX opset ${info.opset}.
- Trained by \`toolchain/train/${info.design === 'v3' ? 'train_v3.py' : 'train.py'}\` (L = L_det + λ·L_rec) on teacher labels from \`jetface label\`.
- Export check against PyTorch in onnxruntime-node (${check.compared} candidates): max |Δ| ${diffs(check)}${wide ? `; at a wider input, ${wide.compared} candidates: ${diffs(wide)}` : ''}.

${origins}${notes ? `\n${notes.trim()}\n` : ''}
## Measured

${Object.entries(metrics).map(([k, v]) => `- ${k}: ${String(v)}`).join('\n')}

## Training data

${TRAINING_DATA.map((t) => `- ${t}`).join('\n')}

## Terms (they travel with these weights)

${TRAINING_TERMS.map((t) => `- ${t}`).join('\n')}
`;
}
