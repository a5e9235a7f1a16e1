import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageDecodeError } from '../sdk/errors';
import { loadImageFrame } from '../sdk/image/decode';
import { dataPath, describeWithData, tempDir } from './support/data';

describeWithData('loadImageFrame on real files', () => {
  test('decodes a JPEG to packed RGB', async () => {
    const frame = await loadImageFrame(dataPath('scenes', 'bbt1.jpg'), { cameraId: 'cam1', sequence: 7 });
    expect([frame.width, frame.height, frame.format, frame.cameraId, frame.sequence]).toEqual([1366, 768, 'rgb24', 'cam1', 7]);
    expect(frame.data).toHaveLength(1366 * 768 * 3);
    const mean = frame.data.reduce((s, v) => s + v, 0) / frame.data.length;
    expect(mean).toBeGreaterThan(20);
    expect(mean).toBeLessThan(235);
  });

  test('decodes a binary PGM (ORL) to grey RGB, which libvips cannot read', async () => {
    const file = dataPath('orl', 's1', '1.pgm');
    const frame = await loadImageFrame(file);
    expect([frame.width, frame.height]).toEqual([92, 112]);
    const bytes = readFileSync(file);
    const body = bytes.subarray(bytes.length - 92 * 112);
    expect(frame.data[0]).toBe(body[0]);
    expect(frame.data[1]).toBe(body[0]);
    expect(frame.data[(111 * 92 + 91) * 3 + 2]).toBe(body[111 * 92 + 91]);
  });

  test('a truncated JPEG is an ImageDecodeError naming the file', async () => {
    const file = join(tempDir(), 'cut.jpg');
    writeFileSync(file, readFileSync(dataPath('scenes', 'bbt1.jpg')).subarray(0, 5000));
    const error = await loadImageFrame(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as ImageDecodeError).code).toBe('E_IMAGE_DECODE');
    expect((error as Error).message).toContain('cut.jpg');
  });

  test('a PGM whose body is short is refused with the sizes', async () => {
    const file = join(tempDir(), 'short.pgm');
    writeFileSync(file, Buffer.concat([Buffer.from('P5\n# c\n92 112\n255\n'), Buffer.alloc(100)]));
    await expect(loadImageFrame(file)).rejects.toThrow(/short\.pgm.*100 bytes.*92x112/);
  });
});

test('a missing file and a non-image are ImageDecodeErrors', async () => {
  await expect(loadImageFrame('/nonexistent.jpg')).rejects.toBeInstanceOf(ImageDecodeError);
  const file = join(tempDir(), 'text.png');
  writeFileSync(file, 'not an image');
  await expect(loadImageFrame(file)).rejects.toBeInstanceOf(ImageDecodeError);
});
