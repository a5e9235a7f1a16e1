import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import type { FrameSource } from '../../sdk/capture/types';
import type { Frame } from '../../sdk/types';
import { HAS_DATA, dataPath } from './data';

export const CLIP = dataPath('video', 'hamilton_clip.mp4');

export function hasCommand(command: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * describe() that runs when the shared data and the named tools are present, and says which is
 * missing (and the apt package) when not.
 */
export function describeWith(tools: Record<string, string>): jest.Describe {
  const missing = Object.entries(tools).filter(([command]) => !hasCommand(command));
  if (HAS_DATA && missing.length === 0) return describe;
  const why = !HAS_DATA ? '../shared/data is absent' : missing.map(([c, pkg]) => `${c} missing: apt-get install -y ${pkg}`).join('; ');
  return ((name: string, fn: () => void) => describe.skip(`${name} (skipped: ${why})`, fn)) as unknown as jest.Describe;
}

export const FFMPEG = { ffmpeg: 'ffmpeg', ffprobe: 'ffmpeg' };
export const GSTREAMER = { 'gst-launch-1.0': 'gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav' };

/** Frame count and size of a video, from ffprobe (counting packets, exact for the clip). */
export function probeVideo(file: string): { width: number; height: number; frames: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=width,height,nb_read_packets', '-of', 'json', file], { encoding: 'utf8' });
  const s = (JSON.parse(out) as { streams: { width: number; height: number; nb_read_packets: string }[] }).streams[0]!;
  return { width: s.width, height: s.height, frames: Number(s.nb_read_packets) };
}

/** Every frame of a source (or the first `limit`), with an optional delay per frame to play a slow consumer. */
export async function collect(source: FrameSource, options: { limit?: number; delayMs?: number } = {}): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of source) {
    frames.push(frame);
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    if (options.limit !== undefined && frames.length >= options.limit) break;
  }
  return frames;
}

/** Iterates to the end and returns the frames and the error iteration ended with (if any). */
export async function drain(source: FrameSource): Promise<{ frames: number; error: unknown }> {
  let frames = 0;
  try {
    for await (const _ of source) frames++;
    return { frames, error: undefined };
  } catch (error) {
    return { frames, error };
  }
}

/** A TCP server that accepts connections and never answers: a camera that hangs on open. */
export async function silentServer(): Promise<{ port: number; server: Server; close: () => Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, server, close };
}

/** A loopback port with nothing listening (connection refused). */
export async function closedPort(): Promise<number> {
  const { port, close } = await silentServer();
  await close();
  return port;
}

/** Child processes of this process whose command line contains `needle` (to prove none is left behind). */
export function childProcesses(needle: string): string[] {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    return out.split('\n').filter((l) => l.includes(needle));
  } catch {
    return [];
  }
}
