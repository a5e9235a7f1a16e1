import type { Command } from 'commander';
import { startDevice } from '../../app/start-device';
import { loadDeviceConfig } from '../../config/load';
import { CamerasFailedError } from '../../errors';

interface RunOptions {
  config: string;
}

/**
 * `jetface run --config device.yaml`: the device from its configuration, until SIGINT or SIGTERM
 * (or until every camera has ended, for files and folders); then a graceful stop: open tracks end,
 * events are flushed to the broker, every part is closed. Exits 1 ({@link CamerasFailedError}) when
 * a camera failed rather than ended.
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the device described by a configuration file (see docs/config.md) until SIGINT/SIGTERM')
    .requiredOption('--config <file>', 'device configuration (YAML)')
    .action(async (o: RunOptions) => {
      const config = await loadDeviceConfig(o.config);
      const abort = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        process.stderr.write(`jetface: ${signal}: stopping\n`);
        abort.abort();
      };
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        const device = await startDevice(config, { source: o.config, signal: abort.signal });
        const aborted = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
        await Promise.race([device.finished(), aborted]);
        // Cameras that failed on their own end the run with exit 1, so a supervisor (systemd's
        // Restart=on-failure) starts the device again.
        const failed = abort.signal.aborted ? [] : device.stats().cameras.filter((c) => c.state === 'failed').map((c) => c.camera);
        await device.stop();
        if (failed.length > 0) throw new CamerasFailedError(failed);
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
}
