import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { FaceEngine } from '../../engine/face-engine';
import { InputFileError } from '../../errors';
import { placeOnCanvas, CANVAS_FILLS, type CanvasFill } from '../../eval/canvas';
import { evaluateDetection, parseWiderGroundTruth } from '../../eval/detection';
import { dot, largestFace } from '../../eval/face-match';
import { evaluateVerification, lfwImagePath, parsePairs, type PairRef } from '../../eval/verification';
import { loadImageFrame } from '../../image/decode';
import { addEngineOptions, jsonOption, openEngine, parseNumber, round, type EngineCliOptions } from '../shared-options';

interface VerifyOptions extends EngineCliOptions {
  pairs: string;
  root: string;
  json?: boolean;
  canvas: string;
  fill: string;
}

interface DetectEvalOptions extends EngineCliOptions {
  gt: string;
  root: string;
  json?: boolean;
  iou: string;
}

/** `jetface eval verify|detect`: accuracy measured the way later issues and checks quote it. */
export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('measure accuracy on labelled data');

  addEngineOptions(evalCmd.command('verify'))
    .description('LFW-style verification: 10-fold accuracy and TAR at FAR 1e-3 over a pair list')
    .requiredOption('--pairs <file>', 'pair list (name i j | name1 i name2 j), header line optional')
    .requiredOption('--root <dir>', 'image root: <root>/<name>/<name>_NNNN.jpg')
    .option('--canvas <px>', 'each image is centred on a square canvas of this side before detection', '160')
    .option('--fill <mode>', `canvas border: ${CANVAS_FILLS.join(' | ')}`, 'grey')
    .addOption(jsonOption())
    .action(async (o: VerifyOptions) => {
      const canvas = parseNumber('--canvas', o.canvas);
      if (!CANVAS_FILLS.includes(o.fill as CanvasFill)) throw new InputFileError('--fill', `expected one of ${CANVAS_FILLS.join(', ')}, got ${o.fill}`);
      const pairs = parsePairs(await readText(o.pairs), o.pairs);
      await assertImagesExist(o.pairs, pairs.flatMap((p) => [lfwImagePath(o.root, p.a), lfwImagePath(o.root, p.b)]));
      const engine = await openEngine(o);
      try {
        const start = Date.now();
        const embeddings = new Map<string, Float32Array | null>();
        const embed = async (ref: PairRef): Promise<Float32Array | null> => {
          const path = lfwImagePath(o.root, ref);
          if (!embeddings.has(path)) embeddings.set(path, await largestFaceEmbedding(engine, path, canvas, o.fill as CanvasFill));
          return embeddings.get(path)!;
        };
        const scores: number[] = [];
        const failed: boolean[] = [];
        for (const pair of pairs) {
          const [a, b] = [await embed(pair.a), await embed(pair.b)];
          failed.push(!a || !b);
          scores.push(a && b ? dot(a, b) : Number.NaN);
        }
        const result = evaluateVerification(scores, pairs.map((p) => p.same), failed);
        const noFace = [...embeddings.values()].filter((e) => e === null).length;
        const report = {
          bundle: engine.info.name,
          provider: engine.info.provider,
          pairs: result.pairs,
          failedPairs: result.failedPairs,
          imagesWithoutFace: noFace,
          accuracy: round(result.accuracy, 4),
          accuracyStd: round(result.accuracyStd, 4),
          threshold: round(result.threshold, 4),
          tarAtFar1e3: round(result.tarAtFar1e3, 4),
          canvas: { size: canvas, fill: o.fill },
          seconds: round((Date.now() - start) / 1000, 1),
        };
        if (o.json) console.log(JSON.stringify(report));
        else {
          console.log(`pairs ${report.pairs} (no face found: ${report.failedPairs} pairs, ${noFace} images; counted as errors)`);
          console.log(`accuracy ${(report.accuracy * 100).toFixed(2)}% ± ${(report.accuracyStd * 100).toFixed(2)} (10-fold), threshold ${report.threshold}`);
          console.log(`TAR@FAR=1e-3 ${(report.tarAtFar1e3 * 100).toFixed(2)}%`);
        }
      } finally {
        await engine.close();
      }
    });

  addEngineOptions(evalCmd.command('detect'))
    .description('detection precision, recall and AP against WIDER FACE-format ground truth')
    .requiredOption('--gt <file>', 'ground truth: path line, count line, one "x y w h ..." line per face')
    .requiredOption('--root <dir>', 'folder the ground-truth paths are relative to')
    .option('--iou <t>', 'IoU for a match', '0.5')
    .addOption(jsonOption())
    .action(async (o: DetectEvalOptions) => {
      const { images, ignoredBoxes } = parseWiderGroundTruth(await readText(o.gt), o.gt);
      const engine = await openEngine(o);
      try {
        const detections = [];
        for (const image of images) {
          const faces = await engine.detect(await loadImageFrame(join(o.root, image.path)));
          detections.push({ path: image.path, boxes: faces.map((f) => f.box), scores: faces.map((f) => f.score) });
        }
        const m = evaluateDetection(images, detections, parseNumber('--iou', o.iou));
        const report = { bundle: engine.info.name, ...m, precision: round(m.precision, 4), recall: round(m.recall, 4), ap: round(m.ap, 4), ignoredBoxes };
        if (o.json) console.log(JSON.stringify(report));
        else {
          console.log(`images ${m.images}, faces ${m.groundTruth}, detections ${m.detections} (IoU ${m.iouThreshold})`);
          console.log(`precision ${report.precision}  recall ${report.recall}  AP ${report.ap}  (TP ${m.truePositives}, FP ${m.falsePositives}, FN ${m.falseNegatives})`);
        }
      } finally {
        await engine.close();
      }
    });
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new InputFileError(file, `cannot read: ${(error as Error).message}`);
  }
}

/** A pair list naming images that are not there is a wrong --root or a wrong list: say so before any work. */
async function assertImagesExist(listFile: string, paths: string[]): Promise<void> {
  const unique = [...new Set(paths)];
  const missing: string[] = [];
  for (const path of unique) if (!(await access(path).then(() => true, () => false))) missing.push(path);
  if (missing.length > 0) {
    const shown = missing.slice(0, 3).join(', ');
    throw new InputFileError(listFile, `${missing.length} of ${unique.length} images it names are missing (check --root), e.g. ${shown}`, { missing: missing.length });
  }
}

/** The embedding of the largest face of an image centred on a canvas. */
async function largestFaceEmbedding(engine: FaceEngine, path: string, canvas: number, fill: CanvasFill): Promise<Float32Array | null> {
  const frame = placeOnCanvas(await loadImageFrame(path), canvas, fill);
  return largestFace(await engine.detect(frame))?.embedding ?? null;
}
