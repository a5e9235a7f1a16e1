import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InputFileError } from '../../sdk/errors';

/** The training sources DESIGN.md allows: LFW's train-only list, CelebA and the group scenes. */
export type LabelSource = 'lfw-train' | 'celeba' | 'scenes';

export const LABEL_SOURCES: readonly LabelSource[] = ['lfw-train', 'celeba', 'scenes'];

/** One image to label, with its identity when the data set gives one. */
export interface LabelItem {
  source: LabelSource;
  /** Path relative to the data root. */
  image: string;
  identity?: string;
}

/**
 * The images of each source. LFW is read **only** through `lfw/train_images.txt`: every other
 * LFW image belongs to an evaluation pair list and must never reach training.
 */
export async function listTrainingImages(dataRoot: string, sources: readonly LabelSource[]): Promise<LabelItem[]> {
  const items: LabelItem[] = [];
  for (const source of sources) {
    if (source === 'lfw-train') {
      const list = join(dataRoot, 'lfw', 'train_images.txt');
      for (const line of await lines(list)) {
        const name = line.split('/')[0];
        if (!name || !/^[^/]+\/[^/]+\.jpg$/.test(line)) throw new InputFileError(list, `unexpected line ${JSON.stringify(line)}`);
        items.push({ source, image: `lfw/images/${line}`, identity: `lfw:${name}` });
      }
    } else if (source === 'celeba') {
      const list = join(dataRoot, 'celeba', 'identities.txt');
      for (const line of await lines(list)) {
        const [file, id] = line.split(/\s+/);
        if (!file || !id) throw new InputFileError(list, `unexpected line ${JSON.stringify(line)}`);
        items.push({ source, image: `celeba/images/${file}`, identity: `celeba:${id}` });
      }
    } else {
      const files = (await readdir(join(dataRoot, 'scenes'))).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
      for (const f of files) items.push({ source, image: `scenes/${f}` });
    }
  }
  return items;
}

async function lines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new InputFileError(file, `cannot read: ${e.message}`);
  });
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}
