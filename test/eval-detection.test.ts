import { InputFileError, InvalidArgumentError } from '../sdk/errors';
import { evaluateDetection, iou, parseWiderGroundTruth, type GroundTruthImage } from '../sdk/eval/detection';

type Box = [number, number, number, number];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}

describe('parseWiderGroundTruth', () => {
  test('reads blocks, converts x y w h to corners and ignores extra columns', () => {
    const text = [
      '0--Parade/0_Parade_marchingband_1_849.jpg',
      '1',
      '449 330 122 149 0 0 0 0 0 0 ',
      '0--Parade/0_Parade_Parade_0_904.jpg',
      '2',
      '361 98 263 339 0 0 0 0 0 0',
      '10.5 20 5 6 2 0 0 0 1 0',
      '',
    ].join('\n');
    const { images, ignoredBoxes } = parseWiderGroundTruth(text, 'gt.txt');
    expect(ignoredBoxes).toBe(0);
    expect(images).toEqual([
      { path: '0--Parade/0_Parade_marchingband_1_849.jpg', boxes: [[449, 330, 571, 479]] },
      {
        path: '0--Parade/0_Parade_Parade_0_904.jpg',
        boxes: [
          [361, 98, 624, 437],
          [10.5, 20, 15.5, 26],
        ],
      },
    ]);
  });

  test("skips WIDER's dummy line after a count of 0", () => {
    const text = 'a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\nb.jpg\n1\n1 2 3 4\n';
    expect(parseWiderGroundTruth(text, 'gt.txt').images).toEqual([
      { path: 'a.jpg', boxes: [] },
      { path: 'b.jpg', boxes: [[1, 2, 4, 6]] },
    ]);
  });

  test('accepts a count of 0 without a dummy line, before a path that starts with digits, and at the end', () => {
    const text = 'a.jpg\n0\n12--Group/12_Group_1.jpg\n1\n1 2 3 4\nc.jpg\n0';
    expect(parseWiderGroundTruth(text, 'gt.txt').images).toEqual([
      { path: 'a.jpg', boxes: [] },
      { path: '12--Group/12_Group_1.jpg', boxes: [[1, 2, 4, 6]] },
      { path: 'c.jpg', boxes: [] },
    ]);
  });

  test('boxes with w <= 0 or h <= 0 are left out and counted', () => {
    const { images, ignoredBoxes } = parseWiderGroundTruth('a.jpg\n3\n1 1 0 5 0 0\n1 1 5 -1\n1 1 2 2\n', 'gt.txt');
    expect(images[0]?.boxes).toEqual([[1, 1, 3, 3]]);
    expect(ignoredBoxes).toBe(2);
  });

  test('CRLF line endings', () => {
    expect(parseWiderGroundTruth('a.jpg\r\n1\r\n1 2 3 4\r\n', 'gt.txt').images).toEqual([{ path: 'a.jpg', boxes: [[1, 2, 4, 6]] }]);
  });

  test.each([
    ['a.jpg\nabc\n', 'line 2', 'face count'],
    ['a.jpg\n1 2\n', 'line 2', 'face count'],
    ['a.jpg\n-1\n', 'line 2', 'face count'],
    ['a.jpg\n2\n1 2 3 4\n5 6 7\n', 'line 4', "box 'x y w h'"],
    ['a.jpg\n1\n1 2 x 4\n', 'line 3', "box 'x y w h'"],
    ['a.jpg\n0\n1 2 3 4 0 0\n', 'line 3', 'face count is 0'],
    ['1 2 3 4\n', 'line 1', 'image path'],
    ['a.jpg\n1\n1 2 3 4\n\n7\n', 'line 5', 'image path'],
    ['a.jpg\n1\n1 2 3 4\na.jpg\n0\n', 'line 4', 'already listed at line 1'],
    ['a.jpg\n', 'line 1', 'ends before the face count'],
  ])('malformed input %j names %s', (text, line, what) => {
    const e = thrown(() => parseWiderGroundTruth(text, 'gt.txt'));
    expect(e).toBeInstanceOf(InputFileError);
    expect((e as Error).message).toContain('gt.txt');
    expect((e as Error).message).toContain(`${line}:`);
    expect((e as Error).message).toContain(what);
  });

  test('a truncated block says how many boxes are missing', () => {
    const e = thrown(() => parseWiderGroundTruth('a.jpg\n3\n1 2 3 4\n', 'gt.txt'));
    expect(e).toBeInstanceOf(InputFileError);
    expect((e as Error).message).toContain("2 box line(s) of image 'a.jpg' missing");
  });

  test.each([[''], ['\n\n']])('no images in %j is an error', (text) => {
    expect(() => parseWiderGroundTruth(text, 'gt.txt')).toThrow(/no images/);
  });
});

describe('iou', () => {
  test.each<[Box, Box, number]>([
    [[0, 0, 10, 10], [0, 0, 10, 10], 1],
    [[0, 0, 10, 10], [5, 0, 15, 10], 50 / 150],
    [[0, 0, 10, 10], [2, 2, 4, 4], 4 / 100],
    [[0, 0, 10, 10], [10, 0, 20, 10], 0],
    [[0, 0, 10, 10], [20, 20, 30, 30], 0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0],
  ])('iou(%j, %j) = %d', (a, b, expected) => {
    expect(iou(a, b)).toBeCloseTo(expected, 12);
    expect(iou(b, a)).toBeCloseTo(expected, 12);
  });
});

const A: Box = [0, 0, 10, 10];
const B: Box = [100, 100, 110, 110];
const FAR: Box = [500, 500, 510, 510];

describe('evaluateDetection', () => {
  test('hand AP example: TP(0.9), FP(0.8), TP(0.7) over 2 faces gives 1*0.5 + (2/3)*0.5', () => {
    const gt: GroundTruthImage[] = [{ path: 'a.jpg', boxes: [A, B] }];
    const m = evaluateDetection(gt, [{ path: 'a.jpg', boxes: [FAR, B, A], scores: [0.8, 0.7, 0.9] }]);
    expect(m).toEqual({
      images: 1,
      groundTruth: 2,
      detections: 3,
      truePositives: 2,
      falsePositives: 1,
      falseNegatives: 0,
      precision: 2 / 3,
      recall: 1,
      ap: expect.any(Number),
      iouThreshold: 0.5,
    });
    expect(m.ap).toBeCloseTo(0.5 + (2 / 3) * 0.5, 12);
  });

  test('AP ranks detections across images by score', () => {
    // a.jpg: TP 0.9, FP 0.6; b.jpg: FP 0.8, TP 0.5; 3 faces (one in c.jpg never detected).
    // Ranked: TP .9 (r 1/3, p 1), FP .8, FP .6, TP .5 (r 2/3, p 2/4) -> AP = 1/3 + 1/3 * 1/2.
    const gt: GroundTruthImage[] = [
      { path: 'a.jpg', boxes: [A] },
      { path: 'b.jpg', boxes: [A] },
      { path: 'c.jpg', boxes: [A] },
    ];
    const m = evaluateDetection(gt, [
      { path: 'a.jpg', boxes: [A, FAR], scores: [0.9, 0.6] },
      { path: 'b.jpg', boxes: [FAR, A], scores: [0.8, 0.5] },
    ]);
    expect(m.images).toBe(3);
    expect(m.groundTruth).toBe(3);
    expect([m.truePositives, m.falsePositives, m.falseNegatives]).toEqual([2, 2, 1]);
    expect(m.recall).toBeCloseTo(2 / 3, 12);
    expect(m.ap).toBeCloseTo(1 / 3 + 1 / 6, 12);
  });

  test('AP uses the precision envelope: a later, higher precision lifts earlier recall steps', () => {
    // 3 faces; ranked TP, FP, FP, TP (p 2/4), TP (p 3/5): the envelope lifts 2/4 to 3/5.
    // AP = 1/3 * 1 + 1/3 * 0.6 + 1/3 * 0.6 (0.7 without the envelope).
    const C: Box = [200, 200, 210, 210];
    const gt: GroundTruthImage[] = [{ path: 'a.jpg', boxes: [A, B, C] }];
    const m = evaluateDetection(gt, [
      { path: 'a.jpg', boxes: [A, FAR, [600, 600, 610, 610], B, C], scores: [0.9, 0.8, 0.7, 0.6, 0.5] },
    ]);
    expect(m.ap).toBeCloseTo(1 / 3 + 0.2 + 0.2, 12);
  });

  test('a duplicate detection of a matched face is a false positive; the higher score wins', () => {
    const gt: GroundTruthImage[] = [{ path: 'a.jpg', boxes: [A] }];
    // Listed low score first: the 0.9 box is still matched first even though the 0.5 one overlaps more.
    const m = evaluateDetection(gt, [{ path: 'a.jpg', boxes: [A, [0, 0, 10, 12]], scores: [0.5, 0.9] }]);
    expect([m.truePositives, m.falsePositives, m.falseNegatives]).toEqual([1, 1, 0]);
    expect(m.ap).toBe(1); // the TP ranks first
  });

  test('a detection matches the unmatched face it overlaps most, not the first one above the threshold', () => {
    const left: Box = [0, 0, 10, 10];
    const right: Box = [2, 0, 12, 10];
    const gt: GroundTruthImage[] = [{ path: 'a.jpg', boxes: [left, right] }];
    // [1.5,0,11.5,10]: IoU 85/115 with left, 95/105 with right -> takes right.
    // [-3,0,7,10]: IoU 70/130 with left, 50/150 with right -> only left can match it.
    const m = evaluateDetection(gt, [{ path: 'a.jpg', boxes: [[1.5, 0, 11.5, 10], [-3, 0, 7, 10]], scores: [0.9, 0.8] }]);
    expect([m.truePositives, m.falsePositives]).toEqual([2, 0]);
  });

  test('IoU exactly at the threshold matches; just below does not', () => {
    const gt: GroundTruthImage[] = [{ path: 'a.jpg', boxes: [A] }];
    expect(evaluateDetection(gt, [{ path: 'a.jpg', boxes: [[0, 0, 10, 20]], scores: [1] }]).truePositives).toBe(1);
    expect(evaluateDetection(gt, [{ path: 'a.jpg', boxes: [[0, 0, 10, 20.1]], scores: [1] }]).truePositives).toBe(0);
    expect(evaluateDetection(gt, [{ path: 'a.jpg', boxes: [[0, 0, 10, 20]], scores: [1] }], 0.6).truePositives).toBe(0);
  });

  test('no detections: precision 1, recall 0, AP 0, every face a miss', () => {
    const m = evaluateDetection([{ path: 'a.jpg', boxes: [A, B] }], []);
    expect(m).toMatchObject({ detections: 0, truePositives: 0, falseNegatives: 2, precision: 1, recall: 0, ap: 0 });
  });

  test('no ground truth: recall 1; AP 1 without detections, 0 with', () => {
    const gt: GroundTruthImage[] = [{ path: 'a.jpg', boxes: [] }];
    expect(evaluateDetection(gt, [])).toMatchObject({ recall: 1, precision: 1, ap: 1 });
    expect(evaluateDetection(gt, [{ path: 'a.jpg', boxes: [A], scores: [0.9] }])).toMatchObject({
      recall: 1,
      precision: 0,
      falsePositives: 1,
      ap: 0,
    });
  });

  test.each([
    ['detections[0].path', () => evaluateDetection([{ path: 'a.jpg', boxes: [] }], [{ path: 'x.jpg', boxes: [], scores: [] }])],
    [
      'detections[1].path',
      () =>
        evaluateDetection(
          [{ path: 'a.jpg', boxes: [] }],
          [
            { path: 'a.jpg', boxes: [], scores: [] },
            { path: 'a.jpg', boxes: [], scores: [] },
          ],
        ),
    ],
    ['detections[0].scores.length', () => evaluateDetection([{ path: 'a.jpg', boxes: [] }], [{ path: 'a.jpg', boxes: [A], scores: [] }])],
    ['detections[0].scores[0]', () => evaluateDetection([{ path: 'a.jpg', boxes: [] }], [{ path: 'a.jpg', boxes: [A], scores: [NaN] }])],
    ['iouThreshold', () => evaluateDetection([], [], 0)],
    ['iouThreshold', () => evaluateDetection([], [], 1.5)],
  ])('rejects bad input: %s', (name, call) => {
    const e = thrown(call);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).details['name']).toBe(name);
  });
});
