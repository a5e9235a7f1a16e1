import type { Command } from 'commander';
import { InvalidArgumentError } from '../../errors';
import { labelImages } from '../../../toolchain/label/label-images';
import { LABEL_SOURCES, listTrainingImages, type LabelSource } from '../../../toolchain/label/sources';
import { addEngineOptions, openEngine, parseNumber, type EngineCliOptions } from '../shared-options';

interface LabelOptions extends EngineCliOptions {
  data: string;
  out: string;
  sources: string;
  limit?: string;
}

/** `jetface label`: teacher labels (boxes, landmarks, embeddings) for training the joint model. */
export function registerLabel(program: Command): void {
  addEngineOptions(program.command('label'))
    .description('label training images with a teacher bundle (resumable JSON lines; never LFW evaluation images)')
    .option('--data <dir>', 'the shared data folder', '../shared/data')
    .requiredOption('--out <file>', 'labels file (JSON lines; keep it out of the repository: it is derived from the data)')
    .option('--sources <list>', `comma-separated among ${LABEL_SOURCES.join(',')}`, LABEL_SOURCES.join(','))
    .option('--limit <n>', 'label at most n images per source (smoke runs)')
    .action(async (o: LabelOptions) => {
      const sources = o.sources.split(',').map((s) => s.trim()) as LabelSource[];
      for (const s of sources) if (!LABEL_SOURCES.includes(s)) throw new InvalidArgumentError('--sources', `entries among ${LABEL_SOURCES.join(', ')}`, s);
      const limit = o.limit === undefined ? Infinity : parseNumber('--limit', o.limit);
      const all = await listTrainingImages(o.data, sources);
      const items = sources.flatMap((s) => all.filter((i) => i.source === s).slice(0, limit));
      const engine = await openEngine(o);
      const start = Date.now();
      try {
        const result = await labelImages(engine, o.data, items, o.out, (p) => {
          const rate = (p.done - p.skipped) / Math.max(1e-3, (Date.now() - start) / 1000);
          process.stderr.write(`label: ${p.done}/${p.total} images (${p.skipped} already done), ${p.faces} faces, ${p.errors} errors, ${rate.toFixed(1)} img/s\n`);
        });
        console.log(JSON.stringify({ out: o.out, ...result, seconds: Math.round((Date.now() - start) / 100) / 10 }));
      } finally {
        await engine.close();
      }
    });
}
