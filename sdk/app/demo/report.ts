/**
 * The demo's annotated result: one self-contained HTML page, each kept frame as an inline JPEG
 * (sharp) under SVG boxes labelled with what the gallery said about each face.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import type { Gallery } from '../../gallery/types';
import type { Box, Face, Frame } from '../../types';

/** One face on a kept frame. */
export interface LabelledFace {
  box: Box;
  status: 'known' | 'unknown' | 'ambiguous';
  personId: string | null;
  name: string | null;
  /** Best candidate's cosine, or null with an empty gallery. */
  similarity: number | null;
}

interface Kept {
  caption: string;
  width: number;
  height: number;
  faces: LabelledFace[];
  jpeg: Promise<Buffer>;
}

const MAX_WIDTH = 960;

/**
 * Collects frames and writes the page.
 *
 * @example
 * ```ts
 * const report = new HtmlReport(gallery, 50);
 * report.keep(frame, faces, 'sample1.jpg, pass 2');
 * await report.write('jetface-demo/index.html', 'jetface demo');
 * ```
 */
export class HtmlReport {
  private readonly kept: Kept[] = [];

  constructor(
    private readonly gallery: Pick<Gallery, 'search'>,
    readonly maxFrames = 60,
  ) {}

  get size(): number {
    return this.kept.length;
  }

  /** Labels the faces with the gallery as it is now and starts encoding the frame; false once `maxFrames` are kept. */
  keep(frame: Frame, faces: readonly Face[], caption: string): boolean {
    if (this.kept.length >= this.maxFrames) return false;
    const results = faces.length > 0 ? this.gallery.search(faces.map((f) => f.embedding), { topK: 1 }) : [];
    const labelled = faces.map((f, i): LabelledFace => {
      const r = results[i];
      const top = r?.candidates[0];
      const known = r?.status === 'known' && r.match;
      return {
        box: [f.box[0], f.box[1], f.box[2], f.box[3]],
        status: r?.status ?? 'unknown',
        personId: known ? r.match!.personId : null,
        name: known ? r.match!.name : null,
        similarity: known ? r.match!.similarity : (top?.similarity ?? null),
      };
    });
    const jpeg = encodeJpeg(frame);
    jpeg.catch(() => undefined); // reported when the page is written
    this.kept.push({ caption, width: frame.width, height: frame.height, faces: labelled, jpeg });
    return true;
  }

  /** Writes the page (creating its folder); returns the faces drawn. */
  async write(file: string, title: string, summary: string[]): Promise<number> {
    const figures: string[] = [];
    let boxes = 0;
    for (const k of this.kept) {
      const img = (await k.jpeg).toString('base64');
      const shapes = k.faces.map((f) => {
        boxes++;
        const [x1, y1, x2, y2] = f.box;
        const color = f.status === 'known' ? '#2ecc71' : f.status === 'ambiguous' ? '#f39c12' : '#e74c3c';
        const sim = f.similarity === null ? '' : ` ${f.similarity.toFixed(2)}`;
        const label = `${f.name ?? f.status}${sim}`;
        const stroke = Math.max(2, Math.round(k.width / 400));
        const font = Math.max(14, Math.round(k.width / 60));
        return (
          `<g class="face" data-status="${f.status}" data-person="${esc(f.personId ?? '')}">` +
          `<rect x="${r(x1)}" y="${r(y1)}" width="${r(x2 - x1)}" height="${r(y2 - y1)}" fill="none" stroke="${color}" stroke-width="${stroke}"/>` +
          `<text x="${r(x1)}" y="${r(Math.max(font, y1 - stroke * 2))}" fill="${color}" font-size="${font}" font-family="sans-serif" font-weight="bold" paint-order="stroke" stroke="#000" stroke-width="${stroke}">${esc(label)}</text></g>`
        );
      });
      figures.push(
        `<figure><svg viewBox="0 0 ${k.width} ${k.height}" xmlns="http://www.w3.org/2000/svg"><image href="data:image/jpeg;base64,${img}" width="${k.width}" height="${k.height}"/>${shapes.join('')}</svg><figcaption>${esc(k.caption)}</figcaption></figure>`,
      );
    }
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:1.5em;background:#111;color:#eee}figure{display:inline-block;margin:.5em;width:min(46vw,720px)}svg{width:100%;height:auto;display:block}figcaption{font-size:.9em;color:#aaa}ul{color:#ccc}</style>
</head><body><h1>${esc(title)}</h1><ul>${summary.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<p>Boxes: green a recognized person, red unknown, orange ambiguous; the number is the cosine similarity to the closest enrolled person.</p>
${figures.join('\n')}
</body></html>
`;
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, html);
    return boxes;
  }
}

/** A copy of the frame (a capture backend may reuse its buffer), as RGB, scaled, as JPEG. */
function encodeJpeg(frame: Frame): Promise<Buffer> {
  const data = Buffer.from(frame.data);
  if (frame.format === 'bgr24') for (let i = 0; i + 2 < data.length; i += 3) [data[i], data[i + 2]] = [data[i + 2]!, data[i]!];
  return sharp(data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).resize({ width: Math.min(MAX_WIDTH, frame.width) }).jpeg({ quality: 78 }).toBuffer();
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
