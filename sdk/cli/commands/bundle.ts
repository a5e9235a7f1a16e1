import type { Command } from 'commander';
import { writeCascadeBundle } from '../../../toolchain/bundle/cascade';
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
    .option('--no-flip', 'embed only the aligned face, not also its mirror image')
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
}
