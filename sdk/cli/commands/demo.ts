import type { Command } from 'commander';
import { runDemo } from '../../app/demo/run-demo';
import { validateProviderOrder } from '../../engine/providers';
import { DemoNothingRecognizedError } from '../../errors';
import { parseNumber } from '../shared-options';

interface DemoCliOptions {
  input?: string;
  enroll?: string;
  headless?: boolean;
  out?: string;
  bundle?: string;
  providers?: string;
  gallery?: string;
  duration?: string;
  threshold?: string;
  console?: boolean;
  consolePort?: string;
}

/**
 * `jetface demo` (`npm run demo`): no arguments needed. Exit status with `--headless`: 0 only when
 * at least one person was recognized; 1 otherwise, with the reason.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the whole device in one command: embedded broker, default bundle, sample input, guest enrollment, live events, annotated HTML')
    .option('--input <source>', 'video file, image folder, image, RTSP URL or /dev/videoN (default: /dev/video0 if present, else the sample photos)')
    .option('--enroll <dir>', 'enroll DIR/<person>/*.jpg (one folder per person) instead of guest mode')
    .option('--headless', 'no colours; print a summary and exit 0 only when someone was recognized')
    .option('--out <file>', 'the annotated HTML page', 'jetface-demo/index.html')
    .option('--bundle <dir>', 'model bundle (default: models/jetface-s)')
    .option('--providers <list>', 'execution providers to try in order (tensorrt,cuda,cpu)')
    .option('--gallery <file>', 'keep the SQLite gallery in this file (default: a temporary one)')
    .option('--threshold <cosine>', "match threshold (default: the bundle's, chosen for few wrong names)")
    .option('--console', 'keep serving the device console after the input ends (until Ctrl-C)')
    .option('--console-port <port>', 'port of the device console (default: any free one)')
    .option('--duration <seconds>', 'live input: stop after this long (default: Ctrl-C; 60 s with --headless)')
    .action(async (o: DemoCliOptions) => {
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        const result = await runDemo({
          headless: o.headless ?? false,
          signal: abort.signal,
          ...(o.input !== undefined ? { input: o.input } : {}),
          ...(o.enroll !== undefined ? { enroll: o.enroll } : {}),
          ...(o.out !== undefined ? { out: o.out } : {}),
          ...(o.bundle !== undefined ? { bundle: o.bundle } : {}),
          ...(o.providers !== undefined ? { providers: validateProviderOrder(o.providers.split(',').map((p) => p.trim())) } : {}),
          ...(o.gallery !== undefined ? { gallery: o.gallery } : {}),
          ...(o.duration !== undefined ? { durationS: parseNumber('--duration', o.duration) } : {}),
          ...(o.threshold !== undefined ? { threshold: parseNumber('--threshold', o.threshold) } : {}),
          ...(o.console ? { keepConsole: true } : {}),
          ...(o.consolePort !== undefined ? { consolePort: parseNumber('--console-port', o.consolePort) } : {}),
        });
        if (o.headless && result.recognized.length === 0) throw new DemoNothingRecognizedError(result.reason ?? 'unknown', { frames: result.frames, faces: result.faces });
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
}
