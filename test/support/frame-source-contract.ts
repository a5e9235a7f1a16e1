import { assertValidFrame } from '../../sdk/image/frame';
import type { SourceEndEvent, FrameSource, SourceOnlineEvent } from '../../sdk/capture/types';
import { childProcesses, collect } from './capture';

/** What a contract run may assume of the input behind a source. */
export interface ContractInput {
  /** Opens a fresh, unstarted source over an input that ends by itself. */
  open: () => Promise<FrameSource>;
  /** Frames the input holds (exact) */
  frames: number;
  /** Text in the command line of the capture process, to check none is left; undefined for in-process backends. */
  processNeedle?: string;
}

/**
 * The FrameSource contract every backend runs (habit 5 of DESIGN.md): valid frames in order,
 * consistent stats and events, stop() and break release everything.
 */
export function frameSourceContract(name: string, input: ContractInput): void {
  describe(`FrameSource contract: ${name}`, () => {
    test('yields valid frames in sequence order, with online/end events and consistent stats', async () => {
      const source = await input.open();
      const online: SourceOnlineEvent[] = [];
      const ends: SourceEndEvent[] = [];
      source.on('online', (e) => online.push(e));
      source.on('end', (e) => ends.push(e));
      expect(source.state).toBe('idle');
      const frames = await collect(source);
      expect(frames).toHaveLength(input.frames);
      frames.forEach((f, i) => {
        assertValidFrame(f);
        expect(f.sequence).toBe(i);
        expect(f.cameraId).toBe(source.cameraId);
      });
      for (let i = 1; i < frames.length; i++) expect(frames[i]!.timestamp).toBeGreaterThanOrEqual(frames[i - 1]!.timestamp);
      expect(online).toHaveLength(1);
      expect(ends).toEqual([{ cameraId: source.cameraId, reason: 'eof', error: null }]);
      const stats = source.stats();
      expect(source.state).toBe('ended');
      expect(stats).toMatchObject({ state: 'ended', framesRead: input.frames, framesDelivered: input.frames, framesDropped: 0, reconnects: 0, lastError: null });
      expect(stats.width).toBe(frames.at(-1)!.width);
    });

    test('stop() mid-stream ends iteration, is idempotent and leaves no process behind', async () => {
      const source = await input.open();
      const ends: SourceEndEvent[] = [];
      source.on('end', (e) => ends.push(e));
      let n = 0;
      for await (const _ of source) {
        if (++n === 2) await source.stop();
      }
      expect(n).toBeLessThanOrEqual(3);
      expect(source.state).toBe('stopped');
      await source.stop();
      expect(ends.map((e) => e.reason)).toEqual(['stopped']);
      if (input.processNeedle) expect(childProcesses(input.processNeedle)).toEqual([]);
    });

    test('break out of for-await stops the source', async () => {
      const source = await input.open();
      const frames = await collect(source, { limit: 1 });
      expect(frames).toHaveLength(1);
      expect(source.state).toBe('stopped');
      if (input.processNeedle) expect(childProcesses(input.processNeedle)).toEqual([]);
    });
  });
}
