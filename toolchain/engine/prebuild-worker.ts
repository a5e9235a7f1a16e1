/**
 * Builds one TensorRT engine. Session creation is one synchronous native call that can last
 * minutes on a Jetson; here it blocks this worker, not the caller's event loop, which keeps
 * sending heartbeats.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { serializeError } from '../../sdk/errors';
import type { FromBuildWorker, ToBuildWorker } from './prebuild-protocol';

const port = parentPort;
if (!port) throw new Error('prebuild-worker must run inside a worker thread');

function send(message: FromBuildWorker): void {
  port!.postMessage(message);
}

port.once('message', (message: ToBuildWorker) => {
  void build(message);
});

async function build(message: ToBuildWorker): Promise<void> {
  // A provider library that cannot load is an expected outcome (the caller reports it); keep
  // onnxruntime from also printing it, unless asked for the build log.
  ort.env.logLevel = message.verbose ? 'info' : 'fatal';
  send({ type: 'building' });
  const start = process.hrtime.bigint();
  try {
    const session = await ort.InferenceSession.create(message.modelPath, {
      // cpu after tensorrt, as at run time (sdk/engine/providers.ts): the nodes TensorRT cannot take.
      executionProviders: [message.providerOptions, 'cpu'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: message.verbose ? 1 : 3,
    });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await session.release();
    send({ type: 'built', seconds });
  } catch (error) {
    send({ type: 'failed', error: serializeError(error) });
  }
}
