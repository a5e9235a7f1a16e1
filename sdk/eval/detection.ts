/**
 * Face detection metrics against WIDER FACE-format ground truth: the `wider_face_bbx_gt.txt`
 * parser, greedy IoU matching, precision/recall and VOC-style average precision.
 *
 * Pure and dependency-free. Boxes are `[x1, y1, x2, y2]` in continuous pixel coordinates
 * (width = x2 - x1, no "+1" convention).
 */
import { boxIou } from '../engine/nms';
import { InputFileError, InvalidArgumentError } from '../errors';

/** `[x1, y1, x2, y2]`. */
type Box = [number, number, number, number];

/**
 * The faces annotated in one image.
 *
 * @example
 * ```ts
 * const img: GroundTruthImage = { path: '0--Parade/0_Parade_marchingband_1_849.jpg', boxes: [[449, 330, 571, 479]] };
 * ```
 */
export interface GroundTruthImage {
  /** Image path as written in the file, relative to the dataset's image root. */
  path: string;
  /** Face boxes, x1,y1,x2,y2. */
  boxes: Box[];
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const COUNT = /^\d+$/;

interface Line {
  number: number;
  fields: string[];
  text: string;
}

/**
 * Parses WIDER FACE ground truth (`wider_face_bbx_gt.txt`): repeated blocks of an image path
 * line, a face-count line N, then N lines `x y w h [blur expression ...]` (extra columns are
 * ignored). After a count of 0 WIDER writes a dummy `0 0 0 0 0 0 0 0 0 0` line; it is skipped,
 * and so is its absence. Blank lines are ignored.
 *
 * A path is told from a box line by its fields, not its first character: WIDER paths start
 * with digits (`0--Parade/...`). Boxes with w <= 0 or h <= 0 (WIDER has a few) are left out of
 * the ground truth and counted in `ignoredBoxes`.
 *
 * @param text - the file's contents.
 * @param file - the file's name, used in error messages only.
 * @throws InputFileError naming the line number for a malformed line, a truncated block, a
 *   repeated image path, or a file without images.
 *
 * @example
 * ```ts
 * const { images, ignoredBoxes } = parseWiderGroundTruth('a.jpg\n1\n10 20 30 40 0 0 0 0 0 0\nb.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n', 'gt.txt');
 * // images[0].boxes -> [[10, 20, 40, 60]], images[1].boxes -> [], ignoredBoxes -> 0
 * ```
 */
export function parseWiderGroundTruth(text: string, file: string): { images: GroundTruthImage[]; ignoredBoxes: number } {
  const lines = toLines(text);
  const images: GroundTruthImage[] = [];
  const firstSeen = new Map<string, number>();
  let ignoredBoxes = 0;
  let at = 0;
  while (at < lines.length) {
    const pathLine = lines[at++] as Line;
    const path = parsePath(pathLine, file);
    const previous = firstSeen.get(path);
    if (previous !== undefined) {
      throw new InputFileError(file, `line ${pathLine.number}: image '${path}' already listed at line ${previous}`, { line: pathLine.number });
    }
    firstSeen.set(path, pathLine.number);
    const count = parseCount(lines[at++], pathLine, file);
    const boxes: Box[] = [];
    if (count === 0) {
      if (isDummy(lines[at], file)) at++;
    }
    for (let k = 0; k < count; k++) {
      const box = parseBox(lines[at++], path, count - k, file);
      if (box === undefined) ignoredBoxes++;
      else boxes.push(box);
    }
    images.push({ path, boxes });
  }
  if (images.length === 0) throw new InputFileError(file, 'no images found', { images: 0 });
  return { images, ignoredBoxes };
}

function toLines(text: string): Line[] {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed !== '') lines.push({ number: i + 1, fields: trimmed.split(/\s+/), text: trimmed });
  });
  return lines;
}

/** A box line: at least four fields, the first four numbers. */
function isBoxLike(line: Line): boolean {
  return line.fields.length >= 4 && line.fields.slice(0, 4).every((f) => NUMBER.test(f));
}

function parsePath(line: Line, file: string): string {
  if (isBoxLike(line) || COUNT.test(line.text)) {
    throw new InputFileError(file, `line ${line.number}: expected an image path but found '${line.text}'`, { line: line.number });
  }
  return line.text;
}

function parseCount(line: Line | undefined, pathLine: Line, file: string): number {
  if (line === undefined) {
    throw new InputFileError(file, `line ${pathLine.number}: file ends before the face count of image '${pathLine.text}'`, { line: pathLine.number });
  }
  if (!COUNT.test(line.text)) {
    throw new InputFileError(file, `line ${line.number}: expected a face count (an integer >= 0) but found '${line.text}'`, { line: line.number });
  }
  return Number(line.text);
}

/**
 * After a count of 0: true for WIDER's all-zero dummy line, false for the next path (or the end).
 * A real-looking box there means the count is wrong, which is worth an error rather than a guess.
 */
function isDummy(line: Line | undefined, file: string): boolean {
  if (line === undefined || !isBoxLike(line)) return false;
  if (line.fields.every((f) => NUMBER.test(f) && Number(f) === 0)) return true;
  throw new InputFileError(file, `line ${line.number}: face count is 0 but this line holds a box: '${line.text}'`, { line: line.number });
}

/** The box, or undefined for a degenerate one (w or h <= 0) that is to be ignored. */
function parseBox(line: Line | undefined, path: string, remaining: number, file: string): Box | undefined {
  if (line === undefined) {
    throw new InputFileError(file, `file ends with ${remaining} box line(s) of image '${path}' missing`, { path });
  }
  if (!isBoxLike(line)) {
    throw new InputFileError(file, `line ${line.number}: expected a box 'x y w h' for image '${path}' but found '${line.text}'`, {
      line: line.number,
    });
  }
  const [x = 0, y = 0, w = 0, h = 0] = line.fields.slice(0, 4).map(Number);
  return w > 0 && h > 0 ? [x, y, x + w, y + h] : undefined;
}

/**
 * A detector's output for one image.
 *
 * @example
 * ```ts
 * const det: ImageDetections = { path: '0--Parade/0_Parade_marchingband_1_849.jpg', boxes: [[450, 331, 570, 480]], scores: [0.98] };
 * ```
 */
export interface ImageDetections {
  /** Must match a {@link GroundTruthImage.path}. */
  path: string;
  /** Detected boxes, x1,y1,x2,y2. */
  boxes: Box[];
  /** Confidence per box, same order as `boxes`. */
  scores: number[];
}

/**
 * Result of {@link evaluateDetection}.
 *
 * @example
 * ```ts
 * const m: DetectionMetrics = evaluateDetection(images, detections);
 * console.log(`AP ${m.ap.toFixed(3)}, recall ${m.recall.toFixed(3)}`);
 * ```
 */
export interface DetectionMetrics {
  /** Ground-truth images evaluated. */
  images: number;
  /** Ground-truth faces. */
  groundTruth: number;
  /** Detections evaluated, across all images. */
  detections: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** TP / detections; 1 when there are no detections (nothing was claimed wrongly). */
  precision: number;
  /** TP / groundTruth; 1 when there is no ground truth (nothing was missed). */
  recall: number;
  /** Area under the precision-recall curve (VOC all-point); see {@link evaluateDetection}. */
  ap: number;
  iouThreshold: number;
}

/** Intersection over union of two x1,y1,x2,y2 boxes (the engine's NMS uses the same measure). */
export { boxIou as iou };

/**
 * Scores detections against ground truth.
 *
 * Within each image, detections are taken in descending score order and each is matched to the
 * unmatched ground-truth box of highest IoU, if that IoU is >= `iouThreshold` (true positive);
 * otherwise it is a false positive. Each ground-truth box is matched at most once. Ground-truth
 * images without a detections entry count all their faces as misses.
 *
 * AP is the VOC 2010+ all-point interpolated area under the precision-recall curve, built from
 * all detections sorted by score across images (equal scores keep image order, then box order):
 * precision is made non-increasing from the right, then summed over each recall step. With no
 * ground truth, AP is 1 when there are no detections and 0 otherwise.
 *
 * @throws InvalidArgumentError when an entry in `detections` names an image not in `gt` or
 *   appears twice, its boxes and scores differ in length, a score is not finite, or
 *   `iouThreshold` is not in (0, 1].
 *
 * @example
 * ```ts
 * const gt = [{ path: 'a.jpg', boxes: [[0, 0, 10, 10]] as [number, number, number, number][] }];
 * evaluateDetection(gt, [{ path: 'a.jpg', boxes: [[0, 0, 10, 10]], scores: [0.9] }]).ap; // 1
 * ```
 */
export function evaluateDetection(
  gt: readonly GroundTruthImage[],
  detections: readonly ImageDetections[],
  iouThreshold = 0.5,
): DetectionMetrics {
  if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new InvalidArgumentError('iouThreshold', 'a number in (0, 1]', iouThreshold);
  const gtByPath = new Map(gt.map((image) => [image.path, image]));
  const groundTruth = gt.reduce((sum, image) => sum + image.boxes.length, 0);
  const outcomes: { score: number; tp: boolean }[] = [];
  const seen = new Set<string>();
  detections.forEach((det, i) => {
    const image = gtByPath.get(det.path);
    if (image === undefined) throw new InvalidArgumentError(`detections[${i}].path`, 'an image path present in the ground truth', det.path);
    if (seen.has(det.path)) throw new InvalidArgumentError(`detections[${i}].path`, 'listed once only', det.path);
    seen.add(det.path);
    validateDetections(det, i);
    outcomes.push(...matchImage(image.boxes, det, iouThreshold));
  });
  const truePositives = outcomes.filter((o) => o.tp).length;
  const falsePositives = outcomes.length - truePositives;
  return {
    images: gt.length,
    groundTruth,
    detections: outcomes.length,
    truePositives,
    falsePositives,
    falseNegatives: groundTruth - truePositives,
    precision: outcomes.length === 0 ? 1 : truePositives / outcomes.length,
    recall: groundTruth === 0 ? 1 : truePositives / groundTruth,
    ap: averagePrecision(outcomes, groundTruth),
    iouThreshold,
  };
}

function validateDetections(det: ImageDetections, i: number): void {
  if (det.scores.length !== det.boxes.length) {
    throw new InvalidArgumentError(`detections[${i}].scores.length`, `${det.boxes.length} (boxes.length)`, det.scores.length);
  }
  det.scores.forEach((s, j) => {
    if (!Number.isFinite(s)) throw new InvalidArgumentError(`detections[${i}].scores[${j}]`, 'a finite number', s);
  });
}

/** Greedy matching for one image; returns each detection's outcome in descending score order. */
function matchImage(gtBoxes: readonly Box[], det: ImageDetections, iouThreshold: number): { score: number; tp: boolean }[] {
  const order = det.scores.map((_, j) => j).sort((x, y) => (det.scores[y] ?? 0) - (det.scores[x] ?? 0));
  const matched = new Array<boolean>(gtBoxes.length).fill(false);
  return order.map((j) => {
    const box = det.boxes[j] as Box;
    let best = -1;
    let bestIou = -1;
    gtBoxes.forEach((g, k) => {
      const overlap = matched[k] ? -1 : boxIou(box, g);
      if (overlap > bestIou) {
        best = k;
        bestIou = overlap;
      }
    });
    const tp = best >= 0 && bestIou >= iouThreshold;
    if (tp) matched[best] = true;
    return { score: det.scores[j] ?? 0, tp };
  });
}

/** VOC 2010+ all-point AP: area under the precision envelope, summed at each recall step. */
function averagePrecision(outcomes: readonly { score: number; tp: boolean }[], groundTruth: number): number {
  if (groundTruth === 0) return outcomes.length === 0 ? 1 : 0;
  // Array.prototype.sort is stable, so ties keep image order then per-image score order.
  const sorted = [...outcomes].sort((x, y) => y.score - x.score);
  const recall: number[] = [];
  const precision: number[] = [];
  let tp = 0;
  sorted.forEach((o, i) => {
    if (o.tp) tp++;
    recall.push(tp / groundTruth);
    precision.push(tp / (i + 1));
  });
  // Envelope: precision at recall r becomes the best precision at any recall >= r.
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i] ?? 0, precision[i + 1] ?? 0);
  let ap = 0;
  let previousRecall = 0;
  recall.forEach((r, i) => {
    ap += (r - previousRecall) * (precision[i] ?? 0);
    previousRecall = r;
  });
  return ap;
}
