import { relative } from 'node:path';
import type { Command } from 'commander';
import { loadImageFrame } from '../../image/decode';
import type { Face } from '../../types';
import { addEngineOptions, jsonOption, openEngine, round, type EngineCliOptions } from '../shared-options';

interface DetectOptions extends EngineCliOptions {
  json?: boolean;
  wider?: string;
}

/** `jetface detect --bundle DIR [--json] IMAGE...`: the faces in each image. */
export function registerDetect(program: Command): void {
  addEngineOptions(program.command('detect'))
    .description('find the faces (box, score, 5 landmarks) in images')
    .addOption(jsonOption())
    .option('--wider <root>', 'print WIDER FACE ground-truth text (paths relative to <root>) instead, e.g. to record teacher boxes')
    .argument('<images...>', 'image files')
    .action(async (images: string[], o: DetectOptions) => {
      const engine = await openEngine(o);
      try {
        for (const image of images) {
          const frame = await loadImageFrame(image);
          const faces = await engine.detect(frame);
          if (o.wider !== undefined) printWider(relative(o.wider, image), faces);
          else if (o.json) console.log(JSON.stringify({ image, width: frame.width, height: frame.height, faces: faces.map(faceJson) }));
          else printText(image, frame.width, frame.height, faces);
        }
      } finally {
        await engine.close();
      }
    });
}

function faceJson(f: Face): { box: number[]; score: number; landmarks: number[][] } {
  return { box: f.box.map((v) => round(v)), score: round(f.score, 4), landmarks: f.landmarks.map((p) => p.map((v) => round(v))) };
}

function printText(image: string, width: number, height: number, faces: Face[]): void {
  console.log(`${image} (${width}x${height}): ${faces.length} face${faces.length === 1 ? '' : 's'}`);
  for (const f of faces) {
    const [x1, y1, x2, y2] = f.box.map((v) => Math.round(v));
    const marks = f.landmarks.map(([x, y]) => `${Math.round(x)},${Math.round(y)}`).join(' ');
    console.log(`  score ${f.score.toFixed(3)}  box ${x1},${y1} ${x2},${y2}  landmarks ${marks}`);
  }
}

function printWider(path: string, faces: Face[]): void {
  console.log(path);
  console.log(String(faces.length));
  for (const f of faces) {
    const [x1, y1, x2, y2] = f.box;
    console.log(`${round(x1)} ${round(y1)} ${round(x2 - x1)} ${round(y2 - y1)} ${round(f.score, 4)}`);
  }
}
