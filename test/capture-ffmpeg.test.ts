/** FFmpeg subprocess source on the real clip: counts, sizes, rate cap, backpressure, broken files. */
import { execFileSync } from 'node:child_process';
import { copyFileSync, openSync, readFileSync, writeFileSync, closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { ffmpegArgs, ffmpegOutputParser, parseFfmpegOutputSize } from '../sdk/capture/ffmpeg';
import { CameraError, CameraOpenError, CameraStreamError, CaptureBackendUnavailableError, type JetfaceError } from '../sdk/errors';
import { CLIP, FFMPEG, childProcesses, collect, describeWith, drain, probeVideo } from './support/capture';
import { tempDir } from './support/data';
import { frameSourceContract } from './support/frame-source-contract';

const describeFfmpeg = describeWith(FFMPEG);

describe('ffmpeg command line and output parsing (no ffmpeg needed)', () => {
  test('a file: -xerror, cap and scale filters, raw rgb24 on stdout, no duplicated frames', () => {
    const args = ffmpegArgs({ backend: 'ffmpeg', input: 'clip.mp4', maxFps: 5, width: 320, height: 180 });
    expect(args).toEqual(expect.arrayContaining(['-xerror', '-i', 'clip.mp4', '-vf', 'fps=5,scale=320:180', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1']));
    expect(args.join(' ')).toContain('-vsync passthrough');
  });

  test('a V4L2 device and an RTSP camera are live: no -xerror, v4l2 format, TCP transport', () => {
    const v4l2 = ffmpegArgs({ backend: 'ffmpeg', input: '/dev/video0' }).join(' ');
    expect(v4l2).toContain('-f v4l2 ');
    expect(v4l2).not.toContain('-xerror');
    const rtsp = ffmpegArgs({ backend: 'ffmpeg', input: 'rtsp://cam/s' }).join(' ');
    expect(rtsp).toContain('-rtsp_transport tcp');
  });

  test('reads the frame size from the output stream line, not from the codec tag', () => {
    const line = 'Stream #0:0(und): Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, gbr/bt709/bt709, progressive), 640x360 [SAR 1:1 DAR 16:9], q=2-31, 165722 kb/s, 29.97 fps';
    expect(parseFfmpegOutputSize(line)).toEqual({ width: 640, height: 360, stride: 1920, format: 'rgb24', fps: 29.97 });
    expect(parseFfmpegOutputSize('Stream #0:0: Video: h264 (avc1 / 0x31637661), yuv420p, 640x360')).toBeUndefined();
    // A rawvideo input (a pipe, a fifo) is described too, before Output #0: only the output counts.
    const parse = ffmpegOutputParser();
    expect(parse('Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24, 1280x720, 25 tbr, 25 tbn')).toBeUndefined();
    expect(parse("Output #0, rawvideo, to 'pipe:1':")).toBeUndefined();
    expect(parse('Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24(progressive), 320x180, q=2-31, 25 fps, 25 tbn')).toEqual({ width: 320, height: 180, stride: 960, format: 'rgb24', fps: 25 });
  });
});

describeFfmpeg('FFmpeg source on hamilton_clip.mp4', () => {
  const clip = probeVideoSafe();
  frameSourceContract('ffmpeg', {
    open: () => openFrameSource(CLIP, { backend: 'ffmpeg', cameraId: 'clip' }),
    frames: clip.frames,
    processNeedle: 'ffmpeg',
  });

  test('every frame of the clip at its own size (as ffprobe counts them)', async () => {
    const source = await openFrameSource(CLIP);
    expect(source.backend).toBe('ffmpeg');
    expect(source.cameraId).toBe('hamilton_clip.mp4');
    const frames = await collect(source);
    expect(clip).toEqual({ width: 640, height: 360, frames: 275 });
    expect(frames).toHaveLength(clip.frames);
    expect(frames[0]).toMatchObject({ width: 640, height: 360, format: 'rgb24' });
    // Real picture content, not a blank buffer.
    const mean = frames[100]!.data.reduce((s, v) => s + v, 0) / frames[100]!.data.length;
    expect(mean).toBeGreaterThan(20);
    expect(mean).toBeLessThan(235);
  });

  test('maxFps caps at the source by timestamps, and width/height scale; file frames carry media time', async () => {
    const source = await openFrameSource(CLIP, { maxFps: 10, width: 320, height: 180 });
    const frames = await collect(source);
    const seconds = clip.frames / 29.97;
    expect(frames.length).toBeGreaterThanOrEqual(Math.floor(seconds * 10) - 2);
    expect(frames.length).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 2);
    expect(frames[0]).toMatchObject({ width: 320, height: 180 });
    expect(frames[0]!.data.length).toBe(320 * 180 * 3);
    // However fast the file is read, its frames are 100 ms apart in their own clock.
    expect(frames[10]!.timestamp - frames[0]!.timestamp).toBeCloseTo(1000, 6);
  });

  test('latest-frame backpressure: a slow consumer gets the newest frames and the drops are counted', async () => {
    const source = await openFrameSource(CLIP, { backpressure: 'latest', width: 160, height: 90 });
    const frames = await collect(source, { delayMs: 40 });
    const stats = source.stats();
    expect(stats.framesRead).toBe(clip.frames);
    expect(stats.framesDropped).toBeGreaterThan(clip.frames / 2);
    expect(stats.framesDelivered).toBe(frames.length);
    expect(stats.framesDelivered + stats.framesDropped).toBe(stats.framesRead);
    // Sequence numbers show the gaps; the last frame of the clip is never dropped.
    expect(frames.at(-1)!.sequence).toBe(clip.frames - 1);
    expect(frames.some((f, i) => i > 0 && f.sequence - frames[i - 1]!.sequence > 1)).toBe(true);
  });

  test('a truncated copy (moov atom lost) fails to open with a typed error and the process goes on', async () => {
    const dir = tempDir();
    const file = join(dir, 'truncated.mp4');
    writeFileSync(file, readFileSync(CLIP).subarray(0, 300_000));
    const source = await openFrameSource(file);
    const errors: JetfaceError[] = [];
    source.on('error', (e) => errors.push(e));
    const { frames, error } = await drain(source);
    expect(frames).toBe(0);
    expect(error).toBeInstanceOf(CameraOpenError);
    expect((error as CameraError).code).toBe('E_CAMERA_OPEN');
    expect((error as Error).message).toMatch(/moov atom not found|Invalid data/);
    expect(errors).toHaveLength(1);
    expect(source.state).toBe('failed');
    expect(source.stats().lastError?.code).toBe('E_CAMERA_OPEN');
  });

  test('a file cut in the middle of its data gives the frames before the cut, then a stream error', async () => {
    const dir = tempDir();
    const faststart = join(dir, 'faststart.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', CLIP, '-c', 'copy', '-movflags', '+faststart', faststart]);
    const cut = join(dir, 'cut.mp4');
    copyFileSync(faststart, cut);
    const fd = openSync(cut, 'r+');
    ftruncateSync(fd, 300_000);
    closeSync(fd);
    const { frames, error } = await drain(await openFrameSource(cut));
    expect(frames).toBeGreaterThan(50);
    expect(frames).toBeLessThan(clip.frames);
    expect(error).toBeInstanceOf(CameraStreamError);
    expect((error as CameraError).code).toBe('E_CAMERA_STREAM');
  });

  test('garbage bytes named .mp4: typed open error', async () => {
    const file = join(tempDir(), 'garbage.mp4');
    writeFileSync(file, Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251)));
    const { frames, error } = await drain(await openFrameSource(file));
    expect(frames).toBe(0);
    expect(error).toBeInstanceOf(CameraOpenError);
  });

  test('a missing ffmpeg binary is a typed error naming the package to install', async () => {
    const error = await openFrameSource(CLIP, { ffmpegPath: '/nonexistent/ffmpeg' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CaptureBackendUnavailableError);
    expect((error as Error).message).toMatch(/apt-get install -y ffmpeg/);
  });

  afterAll(() => expect(childProcesses('ffmpeg')).toEqual([]));
});

function probeVideoSafe(): { width: number; height: number; frames: number } {
  try {
    return probeVideo(CLIP);
  } catch {
    return { width: 0, height: 0, frames: 0 };
  }
}
