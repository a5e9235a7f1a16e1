/**
 * The inference worker. onnxruntime-node's run() is synchronous native work; running it here
 * keeps the caller's event loop (MQTT keep-alives, capture, timers) free while a frame is in flight.
 */
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../errors';
import { createCascadeRunner } from './cascade-runner';
import { createJointRunner } from './joint-runner';
import type { FromWorker, ToWorker } from './protocol';
import type { FaceRunner } from './runner';

const port = parentPort;
if (!port) throw new Error('worker-entry must run inside a worker thread');

let runner: FaceRunner | undefined;
// Requests run one at a time, in order: a single ORT session is not re-entrant-friendly and
// queueing here keeps latency measurements honest.
let queue: Promise<void> = Promise.resolve();

function send(message: FromWorker): void {
  port!.postMessage(message);
}

port.on('message', (message: ToWorker) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'init': {
      try {
        runner =
          message.bundle.manifest.kind === 'joint'
            ? await createJointRunner(message.bundle, message.settings, message.inputSize)
            : await createCascadeRunner(message.bundle, message.settings);
        const start = process.hrtime.bigint();
        if (message.warmup) await runner.warmup();
        send({ type: 'ready', provider: runner.provider, attempts: runner.attempts, warmupMs: Number(process.hrtime.bigint() - start) / 1e6 });
      } catch (error) {
        send({ type: 'init-error', error: serializeError(error) });
      }
      return;
    }
    case 'detect': {
      try {
        if (!runner) throw new Error('detect before init');
        const { faces, timings } = await runner.detect(message.frame, message.minScore);
        send({ type: 'result', id: message.id, faces, timings });
      } catch (error) {
        send({ type: 'error', id: message.id, error: serializeError(error) });
      }
      return;
    }
    case 'close': {
      await runner?.close().catch(() => undefined);
      runner = undefined;
      send({ type: 'closed' });
      return;
    }
  }
}
