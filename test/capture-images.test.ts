/** Image-folder source on real photos: order, pacing, bad files, loop. */
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { listImages } from '../sdk/capture/image-folder';
import { CameraOpenError, ImageDecodeError, type JetfaceError } from '../sdk/errors';
import { collect } from './support/capture';
import { dataPath, describeWithData, tempDir } from './support/data';
import { frameSourceContract } from './support/frame-source-contract';

const PEOPLE = dataPath('people', 'bbt');

/** A folder of five real photos named so that only natural sort orders them right. */
function photoFolder(): string {
  const dir = tempDir();
  const person = readdirSync(PEOPLE)[0]!;
  const files = readdirSync(join(PEOPLE, person)).filter((f) => f.endsWith('.png')).slice(0, 5);
  files.forEach((f, i) => copyFileSync(join(PEOPLE, person, f), join(dir, `frame${[1, 2, 3, 10, 20][i]}.png`)));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  return dir;
}

describeWithData('image-folder source', () => {
  frameSourceContract('images', { open: () => openFrameSource(photoFolder()), frames: 5 });

  test('a folder path picks the images backend; natural name order; each image keeps its size', async () => {
    const dir = photoFolder();
    expect((await listImages(dir)).map((f) => f.slice(dir.length + 1))).toEqual(['frame1.png', 'frame2.png', 'frame3.png', 'frame10.png', 'frame20.png']);
    const source = await openFrameSource(dir);
    expect(source.backend).toBe('images');
    const frames = await collect(source);
    expect(frames).toHaveLength(5);
    for (const f of frames) expect(f.data.length).toBe(f.width * f.height * 3);
  });

  test('a file that does not decode is reported as an error event and skipped', async () => {
    const dir = photoFolder();
    writeFileSync(join(dir, 'frame4.jpg'), 'garbage, not a JPEG');
    const source = await openFrameSource(`images:${dir}`);
    const errors: JetfaceError[] = [];
    source.on('error', (e) => errors.push(e));
    const frames = await collect(source);
    expect(frames).toHaveLength(5);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ImageDecodeError);
    expect(source.stats()).toMatchObject({ state: 'ended', errors: 1, framesRead: 5 });
  });

  test('maxFps paces the reading (no image decoded only to be dropped); loop starts over', async () => {
    const source = await openFrameSource(photoFolder(), { maxFps: 20, loop: true });
    const started = Date.now();
    const frames = await collect(source, { limit: 8 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(7 * 50 - 20);
    expect(frames).toHaveLength(8);
    expect(source.stats().framesSkipped).toBe(0);
    expect(frames[5]!.data).toEqual(frames[0]!.data);
  });

  test('a missing or empty folder is a typed open error at open time', async () => {
    await expect(openFrameSource({ backend: 'images', dir: '/nonexistent/folder' })).rejects.toBeInstanceOf(CameraOpenError);
    const empty = join(tempDir(), 'empty');
    mkdirSync(empty);
    await expect(openFrameSource({ backend: 'images', dir: empty })).rejects.toThrow(/holds no image/);
  });
});
