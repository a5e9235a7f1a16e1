import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { FaceEngine } from '../../engine/face-engine';
import { InputFileError, InvalidArgumentError } from '../../errors';
import { placeOnCanvas, CANVAS_FILLS, type CanvasFill } from '../../eval/canvas';
import { describeSettings, readEvaluationSettings, type EvaluationFlags, type EvaluationSettings } from '../../eval/evaluation-settings';
import { evaluateDetection, parseWiderGroundTruth } from '../../eval/detection';
import { evaluateIdentification, type IdentificationResult, type ProbeResult } from '../../eval/identification';
import { dot, largestFace } from '../../eval/face-match';
import { evaluateVerification, lfwImagePath, parsePairs, type PairRef } from '../../eval/verification';
import { loadImageFrame } from '../../image/decode';
import { scaleFrame } from '../../image/scale';
import { addEngineOptions, jsonOption, openEngine, parseNumber, round, type EngineCliOptions } from '../shared-options';

interface VerifyOptions extends EngineCliOptions {
  pairs: string;
  root: string;
  json?: boolean;
  canvas?: string;
  fill?: string;
  faceScale?: string;
}

interface IdentifyOptions extends EngineCliOptions {
  gallery: string;
  probes: string;
  threshold?: string;
  json?: boolean;
}

interface DetectEvalOptions extends EngineCliOptions {
  gt: string;
  root: string;
  json?: boolean;
  iou: string;
}

/** `jetface eval verify|detect|identify`: accuracy measured the way later issues and checks quote it. */
export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('measure accuracy on labelled data');

  addEngineOptions(evalCmd.command('verify'))
    .description('LFW-style verification: 10-fold accuracy and TAR at FAR 1e-3 over a pair list')
    .requiredOption('--pairs <file>', 'pair list (name i j | name1 i name2 j), header line optional')
    .requiredOption('--root <dir>', 'image root: <root>/<name>/<name>_NNNN.jpg')
    .option('--canvas <px>', "each image is centred on a square canvas of this side before detection (default: the bundle's evaluation.canvas, else 160)")
    .option('--fill <mode>', `canvas border: ${CANVAS_FILLS.join(' | ')} (default: the bundle's evaluation.fill, else grey)`)
    .option('--face-scale <f>', 'shrink each image by this factor (0..1] before the canvas: distant faces, low-resolution streams', '1')
    .addOption(jsonOption())
    .action(async (o: VerifyOptions) => {
      const faceScale = parseNumber('--face-scale', o.faceScale ?? '1');
      if (!(faceScale > 0 && faceScale <= 1)) throw new InvalidArgumentError('--face-scale', 'a number in (0, 1]', o.faceScale);
      const flags = { ...evaluationFlags(o), ...(o.canvas !== undefined ? { canvas: parseNumber('--canvas', o.canvas) } : {}), fill: o.fill };
      const settings = await readEvaluationSettings(o.bundle, flags);
      const [canvas, fill] = [settings.canvas.value, settings.fill.value];
      const pairs = parsePairs(await readText(o.pairs), o.pairs);
      await assertImagesExist(o.pairs, pairs.flatMap((p) => [lfwImagePath(o.root, p.a), lfwImagePath(o.root, p.b)]));
      const engine = await openEvaluationEngine(o, settings);
      try {
        const start = Date.now();
        const embeddings = new Map<string, Float32Array | null>();
        const embed = async (ref: PairRef): Promise<Float32Array | null> => {
          const path = lfwImagePath(o.root, ref);
          if (!embeddings.has(path)) embeddings.set(path, await largestFaceEmbedding(engine, path, canvas, fill, faceScale));
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
          canvas: { size: canvas, fill },
          faceScale,
          settings,
          seconds: round((Date.now() - start) / 1000, 1),
        };
        if (o.json) console.log(JSON.stringify(report));
        else {
          console.log(`settings: ${describeSettings(settings)}${faceScale !== 1 ? `, images scaled by ${faceScale}` : ''}`);
          console.log(`pairs ${report.pairs} (no face found: ${report.failedPairs} pairs, ${noFace} images; counted as errors)`);
          console.log(`accuracy ${(report.accuracy * 100).toFixed(2)}% ± ${(report.accuracyStd * 100).toFixed(2)} (10-fold), threshold ${report.threshold}`);
          console.log(`TAR@FAR=1e-3 ${(report.tarAtFar1e3 * 100).toFixed(2)}%`);
        }
      } finally {
        await engine.close();
      }
    });

  addEngineOptions(evalCmd.command('identify'))
    .description('1:N identification on your own photos: enroll --gallery, name the largest face of each --probes photo at the match threshold')
    .requiredOption('--gallery <dir>', 'one sub-folder per person to enroll (folder name = person id), through the quality gates')
    .requiredOption('--probes <dir>', 'one sub-folder per person; a folder whose name is not enrolled holds strangers')
    .option('--threshold <cosine>', "match threshold (default: the bundle's thresholds.match)")
    .addOption(jsonOption())
    .action(async (o: IdentifyOptions) => {
      const threshold = o.threshold !== undefined ? parseNumber('--threshold', o.threshold) : undefined;
      const { minScore } = await readEvaluationSettings(o.bundle, evaluationFlags(o));
      const engine = await openEvaluationEngine(o, { minScore });
      try {
        const start = Date.now();
        const result = await evaluateIdentification(engine, o.gallery, o.probes, threshold !== undefined ? { threshold } : {});
        const report = { bundle: engine.info.name, provider: engine.info.provider, ...result, settings: { minScore }, seconds: round((Date.now() - start) / 1000, 1) };
        if (o.json) console.log(JSON.stringify(report));
        else printIdentification(report.bundle, result, describeSettings({ minScore }));
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
      const { minScore } = await readEvaluationSettings(o.bundle, evaluationFlags(o));
      const { images, ignoredBoxes } = parseWiderGroundTruth(await readText(o.gt), o.gt);
      const engine = await openEvaluationEngine(o, { minScore });
      try {
        const detections = [];
        for (const image of images) {
          const faces = await engine.detect(await loadImageFrame(join(o.root, image.path)));
          detections.push({ path: image.path, boxes: faces.map((f) => f.box), scores: faces.map((f) => f.score) });
        }
        const m = evaluateDetection(images, detections, parseNumber('--iou', o.iou));
        const report = { bundle: engine.info.name, ...m, precision: round(m.precision, 4), recall: round(m.recall, 4), ap: round(m.ap, 4), ignoredBoxes, settings: { minScore } };
        if (o.json) console.log(JSON.stringify(report));
        else {
          console.log(`settings: ${describeSettings({ minScore })}`);
          console.log(`images ${m.images}, faces ${m.groundTruth}, detections ${m.detections} (IoU ${m.iouThreshold})`);
          console.log(`precision ${report.precision}  recall ${report.recall}  AP ${report.ap}  (TP ${m.truePositives}, FP ${m.falsePositives}, FN ${m.falseNegatives})`);
        }
      } finally {
        await engine.close();
      }
    });
}

/** The flags every evaluating command shares (today: --min-score). */
export function evaluationFlags(o: Pick<EngineCliOptions, 'minScore'>): EvaluationFlags {
  return o.minScore !== undefined ? { minScore: parseNumber('--min-score', o.minScore) } : {};
}

/** Opens the engine at the resolved minimum score (flag > manifest.evaluation > thresholds.detection). */
export function openEvaluationEngine(o: EngineCliOptions, settings: Pick<EvaluationSettings, 'minScore'>): Promise<FaceEngine> {
  return openEngine({ ...o, minScore: String(settings.minScore.value) });
}

function printIdentification(bundle: string, r: IdentificationResult, settings: string): void {
  const pct = (v: number | null): string => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
  console.log(`bundle ${bundle}: threshold ${r.threshold} (${r.threshold_from === 'option' ? 'flag' : r.threshold_from}), margin ${r.margin}, ${settings}`);
  console.log(`gallery: ${r.gallery.people} people, ${r.gallery.enrolled_photos} of ${r.gallery.photos} photos enrolled`);
  for (const x of r.enroll_refused) console.log(`  refused ${x.source}: ${x.reason} (${x.message})`);
  console.log(`rank-1 ${pct(r.rank1_rate)} (${r.identified} of ${r.enrolled_probes} probes of enrolled people; ${r.not_named} not named)`);
  console.log(`wrong names ${r.wrong_names}; strangers named ${pct(r.strangers_named_rate)} (${r.strangers_named} of ${r.stranger_probes} probes); no face ${r.no_face}${r.unreadable ? `; unreadable ${r.unreadable}` : ''}`);
  for (const p of r.people) {
    const probes = p.enrolled ? `${p.identified}/${p.probes} identified, ${p.wrong_names} wrong, ${p.not_named} not named` : `stranger: ${p.strangers_named}/${p.probes} named`;
    console.log(`  ${p.person_id}: ${p.enrolled_photos} enrolled${p.refused_photos ? `, ${p.refused_photos} refused` : ''}; ${probes}${p.no_face ? `, ${p.no_face} no face` : ''}`);
  }
  // The misses, each with its best candidate, to see how far the threshold was.
  const misses: Partial<Record<ProbeResult['outcome'], string>> = { wrong_name: 'wrong name', stranger_named: 'stranger named', not_named: 'not named' };
  for (const p of r.probe_results) {
    const label = misses[p.outcome];
    if (label) console.log(`  ${label}: ${p.source} -> ${p.named ?? p.status} (best ${p.top ? `${p.top.person_id} ${p.top.similarity}` : '-'})`);
  }
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

/** The embedding of the largest face of an image, scaled by `faceScale`, centred on a canvas. */
async function largestFaceEmbedding(engine: FaceEngine, path: string, canvas: number, fill: CanvasFill, faceScale: number): Promise<Float32Array | null> {
  const frame = placeOnCanvas(await scaleFrame(await loadImageFrame(path), faceScale), canvas, fill);
  return largestFace(await engine.detect(frame))?.embedding ?? null;
}
