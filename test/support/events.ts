/** Event drafts for tests: one of each type, and numbered recognitions whose order a test can check. */
import type { EventDraft, JetfaceEvent } from '../../sdk/events/types';

export function oneOfEachType(camera = 'door'): EventDraft[] {
  const ada = { personId: 'p-ada', name: 'Ada' };
  return [
    { type: 'recognition', camera, trackId: `${camera}-1`, identity: ada, similarity: 0.72, box: [10, 20, 110, 140], frame: { width: 640, height: 480 }, quality: { detectionScore: 0.93, faceSize: 100 } },
    { type: 'recognition_update', camera, trackId: `${camera}-1`, identity: null, previousIdentity: ada, similarity: 0.31, box: [12, 22, 112, 142] },
    { type: 'track_ended', camera, trackId: `${camera}-1`, identity: ada, similarity: 0.74, firstSeen: '2025-05-01T12:00:00.000Z', lastSeen: '2025-05-01T12:00:04.500Z', frames: 45 },
    { type: 'camera_online', camera, source: 'v4l2' },
    { type: 'camera_offline', camera, reason: 'no frame for 5 s' },
    { type: 'error', camera, error: { code: 'E_CAMERA_OPEN', message: 'cannot open /dev/video9' } },
  ];
}

/** A recognition whose trackId carries `n`, so the receiving side can check order. */
export function numbered(camera: string, n: number): EventDraft {
  return { type: 'recognition', camera, trackId: `${camera}-${n}`, identity: null, similarity: null, box: [0, 0, 10, 10] };
}

export function numberOf(event: JetfaceEvent): number {
  return 'trackId' in event ? Number(event.trackId.split('-').at(-1)) : -1;
}

/** Resolves when `predicate` holds, polling; rejects with `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
