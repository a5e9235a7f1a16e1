import { InvalidArgumentError } from '../sdk/errors';
import { loadImageFrame } from '../sdk/image/decode';
import { scaleFrame } from '../sdk/image/scale';
import { dataPath, describeWithData } from './support/data';

describeWithData('scaleFrame: a frame as seen from further away', () => {
  test('0.4 of a 90x90 LFW crop is 36x36, same format and camera; its mean colour is kept', async () => {
    const crop = await loadImageFrame(dataPath('lfw', 'images', 'Abdullah_Gul', 'Abdullah_Gul_0013.jpg'));
    const small = await scaleFrame(crop, 0.4);
    expect(small).toMatchObject({ width: 36, height: 36, format: crop.format, cameraId: crop.cameraId });
    expect(small.data.length).toBe(36 * 36 * 3);
    const mean = (d: Uint8Array): number => d.reduce((a, v) => a + v, 0) / d.length;
    expect(Math.abs(mean(small.data) - mean(crop.data))).toBeLessThan(3);
    expect(await scaleFrame(crop, 1)).toBe(crop);
  });

  test.each([0, -0.5, 1.5, Number.NaN, 0.001])('factor %p is an InvalidArgumentError naming the scale factor', async (factor) => {
    const crop = await loadImageFrame(dataPath('lfw', 'images', 'Abdullah_Gul', 'Abdullah_Gul_0013.jpg'));
    await expect(scaleFrame(crop, factor)).rejects.toThrow(InvalidArgumentError);
    await expect(scaleFrame(crop, factor)).rejects.toThrow(/scale factor/);
  });
});
