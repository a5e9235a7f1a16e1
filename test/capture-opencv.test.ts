/**
 * The OpenCV backend with the real `@u4/opencv4nodejs` (built against Debian's libopencv-dev;
 * CI installs it, see .ci/run). Skipped, saying so, where the package is not installed.
 */
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { loadOpenCv } from '../sdk/capture/opencv';
import { CameraOpenError } from '../sdk/errors';
import { CLIP, collect, drain, probeVideo } from './support/capture';
import { HAS_DATA, tempDir } from './support/data';
import { frameSourceContract } from './support/frame-source-contract';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

const OPENCV = ((): boolean => {
  try {
    loadOpenCv();
    return true;
  } catch {
    return false;
  }
})();

const describeOpenCv: jest.Describe =
  OPENCV && HAS_DATA
    ? describe
    : (((name: string, fn: () => void) => describe.skip(`${name} (skipped: ${OPENCV ? '../shared/data is absent' : '@u4/opencv4nodejs is not installed'})`, fn)) as unknown as jest.Describe);

describeOpenCv('OpenCV source on hamilton_clip.mp4', () => {
  const clip = HAS_DATA ? probeVideo(CLIP) : { width: 0, height: 0, frames: 0 };
  frameSourceContract('opencv', { open: () => openFrameSource(`opencv:${CLIP}`, { cameraId: 'clip' }), frames: clip.frames });

  test("frames are OpenCV's bgr24 at the clip's size, with real picture content", async () => {
    const source = await openFrameSource(`opencv:${CLIP}`);
    expect(source.backend).toBe('opencv');
    const frames = await collect(source, { limit: 30 });
    expect(frames[0]).toMatchObject({ width: clip.width, height: clip.height, format: 'bgr24' });
    const mean = frames[20]!.data.reduce((s, v) => s + v, 0) / frames[20]!.data.length;
    expect(mean).toBeGreaterThan(20);
    expect(mean).toBeLessThan(235);
  });

  test('a file OpenCV cannot open is a typed CameraOpenError, and the process stays up', async () => {
    const garbage = join(tempDir(), 'garbage.mp4');
    writeFileSync(garbage, Buffer.alloc(4096, 7));
    const { frames, error } = await drain(await openFrameSource(`opencv:${garbage}`));
    expect(frames).toBe(0);
    expect(error).toBeInstanceOf(CameraOpenError);
  });
});
