import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { writeCascadeBundle } from '../../../toolchain/bundle/cascade';
import { writeCentredBundle } from '../../../toolchain/export/centred-bundle';
import { writeJointBundle } from '../../../toolchain/export/joint-bundle';
import { writePrunedBundle } from '../../../toolchain/export/pruned-bundle';
import type { BundleManifest } from '../../bundle/manifest';
import { InvalidArgumentError } from '../../errors';
import { CANVAS_FILLS, type CanvasFill } from '../../eval/canvas';
import { parseNumber } from '../shared-options';

interface CascadeOptions {
  detector: string;
  recognizer: string;
  out: string;
  name?: string;
  size: string;
  flip: boolean;
  terms?: string[];
}

/** `jetface bundle cascade`: package a YuNet detector and an aligned-face recognizer as a bundle. */
export function registerBundle(program: Command): void {
  const bundle = program.command('bundle').description('write model bundles');
  bundle
    .command('cascade')
    .description('write a cascade bundle (YuNet detector + ArcFace-aligned recognizer); the ONNX files are copied into --out')
    .requiredOption('--detector <onnx>', 'YuNet ONNX (2023mar outputs)')
    .requiredOption('--recognizer <onnx>', 'recognizer ONNX, 112x112 RGB input, e.g. MobileFaceNet')
    .requiredOption('--out <dir>', 'bundle folder to write (keep it outside the repository or git-ignored)')
    .option('--name <name>', 'bundle name')
    .option('--size <px>', 'detector input side (640 for the fixed 640x640 YuNet)', '640')
    .option('--flip', 'also embed the mirrored face and average (twice the recognizer cost)', false)
    .option('--terms <text...>', 'terms of the third-party weights, written to MODEL_CARD.md')
    .action(async (o: CascadeOptions) => {
      const manifest = await writeCascadeBundle({
        detector: o.detector,
        recognizer: o.recognizer,
        out: o.out,
        detectorSize: parseNumber('--size', o.size),
        flipAugment: o.flip,
        ...(o.name ? { name: o.name } : {}),
        ...(o.terms ? { terms: o.terms } : {}),
      });
      console.log(`wrote ${o.out} (${manifest.kind}, model id ${manifest.modelId})`);
    });

  bundle
    .command('joint')
    .description('check an exported joint model against its PyTorch reference in onnxruntime-node, then write it as a bundle')
    .requiredOption('--from <dir>', 'training output folder (model.onnx, export.json, reference/)')
    .requiredOption('--out <dir>', 'bundle folder to write')
    .option('--name <name>', 'bundle name', 'jetface-joint')
    .option('--detection-threshold <p>', "the bundle's default minimum face score (default: 0.5, or at least 0.6 and the graph's floor with in-graph NMS)")
    .option('--description <text>', 'first paragraph of the model card')
    .option('--match-threshold <cosine>', "the bundle's match threshold (default 0.4; tune it with npm run eval:threshold)")
    .option('--eval-canvas <px>', 'manifest evaluation.canvas: the LFW canvas eval verify uses without --canvas')
    .option('--eval-fill <mode>', 'manifest evaluation.fill: grey | black | edge')
    .option('--notes <file>', 'markdown appended to the model card (how the threshold was chosen, caveats)')
    .option('--metric <key=value...>', 'a measured number to record in the manifest and model card (repeatable)')
    .action(async (o: JointBundleCliOptions) => {
      const metrics = parseMetrics(o.metric);
      const { manifest, check } = await writeJointBundle({
        from: o.from,
        out: o.out,
        name: o.name,
        thresholds: {
          ...(o.detectionThreshold === undefined ? {} : { detection: parseNumber('--detection-threshold', o.detectionThreshold) }),
          ...(o.matchThreshold === undefined ? {} : { match: parseNumber('--match-threshold', o.matchThreshold) }),
        },
        ...(o.description ? { description: o.description } : {}),
        ...(o.evalCanvas !== undefined || o.evalFill !== undefined ? { evaluation: evaluationOption(o) } : {}),
        ...(o.notes ? { notes: await readFile(o.notes, 'utf8') } : {}),
        metrics,
      });
      console.log(JSON.stringify({ out: o.out, modelId: manifest.modelId, compared: check.compared, maxAbsDiff: check.maxAbsDiff }));
    });

  bundle
    .command('centre')
    .description("write a joint bundle whose graph subtracts the source's mean embedding over training crops, optionally whitening within-person variation (WCCN); then re-tune its match threshold")
    .requiredOption('--bundle <dir>', 'an un-centred joint bundle')
    .requiredOption('--list <file>', 'image paths, one per line, relative to --root, a folder per person (training images only, e.g. lfw/train_images.txt)')
    .requiredOption('--root <dir>', 'folder the list is relative to')
    .requiredOption('--out <dir>', 'bundle folder to write')
    .option('--count <n>', 'the first N images of the list (default: all)')
    .option('--whiten <alpha>', 'also apply Sw^(-alpha/2), Sw the within-person covariance (0 < alpha <= 1; 1 whitens fully)')
    .option('--whiten-reg <r>', 'added to every eigenvalue of Sw, as a multiple of their mean', '1')
    .option('--match-threshold <cosine>', "the new bundle's match threshold (default: the source's; tune it with npm run eval:threshold)")
    .option('--notes <file>', 'markdown added to the model card')
    .option('--metric <key=value...>', 'a number measured on the centred bundle (repeatable)')
    .action(async (o: CentreCliOptions) => {
      const { manifest, transform, maxAbsDiff } = await writeCentredBundle({
        from: o.bundle,
        out: o.out,
        list: o.list,
        root: o.root,
        ...(o.count === undefined ? {} : { count: parseNumber('--count', o.count) }),
        ...(o.whiten === undefined ? {} : { whiten: { alpha: parseNumber('--whiten', o.whiten), reg: parseNumber('--whiten-reg', o.whitenReg) } }),
        ...(o.matchThreshold === undefined ? {} : { matchThreshold: parseNumber('--match-threshold', o.matchThreshold) }),
        ...(o.notes ? { notes: await readFile(o.notes, 'utf8') } : {}),
        metrics: parseMetrics(o.metric),
      });
      console.log(JSON.stringify({ out: o.out, modelId: manifest.modelId, faces: transform.faces, norm: transform.norm, whitening: transform.whitening, maxAbsDiff }));
    });

  bundle
    .command('prune')
    .description("write a joint bundle without the channels that never fire on training images (their constant folded into the next layer's bias): same outputs, less work per face")
    .requiredOption('--bundle <dir>', 'a joint fp32 bundle')
    .requiredOption('--list <file>', 'image paths, one per line, relative to --root (training images; the last quarter, at most 16, is held back to check the result)')
    .requiredOption('--root <dir>', 'folder the list is relative to')
    .requiredOption('--out <dir>', 'bundle folder to write')
    .option('--block <n>', 'remove channels in multiples of n per layer (the CPU kernels\' block)', '16')
    .option('--notes <file>', 'markdown added to the model card')
    .option('--metric <key=value...>', 'a number measured on the pruned bundle (repeatable)')
    .action(async (o: PruneCliOptions) => {
      const result = await writePrunedBundle({
        from: o.bundle,
        out: o.out,
        list: o.list,
        root: o.root,
        block: parseNumber('--block', o.block),
        ...(o.notes ? { notes: await readFile(o.notes, 'utf8') } : {}),
        metrics: parseMetrics(o.metric),
      });
      const { manifest, layers, removed, total, measuredImages, checkImages, maxAbsDiff } = result;
      console.log(JSON.stringify({ out: o.out, modelId: manifest.modelId, removed, total, layers, measuredImages, checkImages, maxAbsDiff }));
    });
}

interface PruneCliOptions {
  bundle: string;
  list: string;
  root: string;
  out: string;
  block: string;
  notes?: string;
  metric?: string[];
}

interface CentreCliOptions {
  bundle: string;
  list: string;
  root: string;
  out: string;
  count?: string;
  whiten?: string;
  whitenReg: string;
  matchThreshold?: string;
  notes?: string;
  metric?: string[];
}

interface JointBundleCliOptions {
  from: string;
  out: string;
  name: string;
  detectionThreshold?: string;
  matchThreshold?: string;
  evalCanvas?: string;
  evalFill?: string;
  notes?: string;
  description?: string;
  metric?: string[];
}

function evaluationOption(o: JointBundleCliOptions): NonNullable<BundleManifest['evaluation']> {
  if (o.evalFill !== undefined && !CANVAS_FILLS.includes(o.evalFill as CanvasFill)) throw new InvalidArgumentError('--eval-fill', CANVAS_FILLS.join(' | '), o.evalFill);
  return {
    ...(o.evalCanvas !== undefined ? { canvas: parseNumber('--eval-canvas', o.evalCanvas) } : {}),
    ...(o.evalFill !== undefined ? { fill: o.evalFill as CanvasFill } : {}),
  };
}

function parseMetrics(pairs: string[] = []): Record<string, number | string> {
  return Object.fromEntries(
    pairs.map((kv) => {
      const [key, value] = kv.split('=', 2);
      if (!key || value === undefined) throw new InvalidArgumentError('--metric', 'key=value', kv);
      return [key, Number.isFinite(Number(value)) ? Number(value) : value];
    }),
  );
}
