import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { listImages, IMAGE_EXTENSIONS } from '../../capture/image-folder';
import { InvalidArgumentError } from '../../errors';
import { defaultBundleDir } from '../../config/load';

/** What the demo plays: still photos, a video file, or a live camera / stream (a config source). */
export type DemoInput =
  | { kind: 'photos'; files: string[]; label: string }
  | { kind: 'video'; path: string; label: string }
  | { kind: 'live'; source: { kind: 'v4l2'; device: string } | { kind: 'rtsp'; url: string }; label: string };

/** The sample photos that `npm install` brings (the `@vladmandic/face-api` dev dependency's demo folder). */
export function samplePhotosDir(): string | null {
  const root = resolve(defaultBundleDir(), '..', '..');
  for (const base of [root, process.cwd()]) {
    const dir = join(base, 'node_modules', '@vladmandic', 'face-api', 'demo');
    if (existsSync(dir)) return dir;
  }
  return null;
}

/** `/dev/video0` when it is a character device (a camera is plugged in). */
export function defaultCamera(): string | null {
  try {
    return statSync('/dev/video0').isCharacterDevice() ? '/dev/video0' : null;
  } catch {
    return null;
  }
}

/**
 * What `--input` (or its absence) means: a camera when one is present, else the sample photos;
 * a folder of images, an image, a video file, an RTSP URL or a /dev/video* device.
 *
 * @example
 * ```ts
 * await resolveDemoInput('rtsp://cam.local/stream'); // { kind: 'live', source: { kind: 'rtsp', url: ... }, label: ... }
 * ```
 */
export async function resolveDemoInput(input: string | undefined): Promise<DemoInput> {
  if (input === undefined) {
    const camera = defaultCamera();
    if (camera) return { kind: 'live', source: { kind: 'v4l2', device: camera }, label: `camera ${camera}` };
    const dir = samplePhotosDir();
    if (!dir) throw new InvalidArgumentError('--input', 'given: no camera at /dev/video0 and no sample photos (node_modules/@vladmandic/face-api/demo; run npm install)', undefined);
    const files = readdirSync(dir)
      .filter((f) => /^sample\d+\.jpg$/i.test(f))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .map((f) => join(dir, f));
    return { kind: 'photos', files, label: `the ${files.length} sample photos of @vladmandic/face-api` };
  }
  if (/^rtsps?:\/\//i.test(input)) return { kind: 'live', source: { kind: 'rtsp', url: input }, label: input.replace(/\/\/[^@/]*@/, '//') };
  if (/^\/dev\/video\d+$/.test(input)) return { kind: 'live', source: { kind: 'v4l2', device: input }, label: `camera ${input}` };
  let stat;
  try {
    stat = statSync(input);
  } catch {
    throw new InvalidArgumentError('--input', 'a video file, image folder, image, RTSP URL or /dev/videoN', input);
  }
  if (stat.isDirectory()) {
    const files = await listImages(input);
    if (files.length === 0) throw new InvalidArgumentError('--input', `a folder holding images (${IMAGE_EXTENSIONS.join(' ')})`, input);
    return { kind: 'photos', files, label: `${files.length} photos of ${input}` };
  }
  if (IMAGE_EXTENSIONS.includes(extname(input).toLowerCase())) return { kind: 'photos', files: [resolve(input)], label: input };
  return { kind: 'video', path: resolve(input), label: input };
}
