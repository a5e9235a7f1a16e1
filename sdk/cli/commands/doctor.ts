import type { Command } from 'commander';
import { runDoctor, type DoctorCheck } from '../../doctor/doctor';
import { DoctorFailedError } from '../../errors';
import { jsonOption, parseNumber } from '../shared-options';

interface DoctorCliOptions {
  config?: string;
  bundle?: string;
  mqtt?: string;
  outboxDir?: string;
  gallery?: string;
  timeoutMs?: string;
  json?: boolean;
}

const MARK: Record<DoctorCheck['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

/**
 * `jetface doctor [--config FILE] [--bundle DIR] [--mqtt URL] [--outbox-dir DIR] [--gallery FILE] [--json]`:
 * each check ok / WARN / FAIL with its fix; exit 1 when a required check fails.
 */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check this machine: bundle, execution providers, camera backends, broker, outbox room, gallery')
    .option('--config <file>', 'device configuration (YAML) to check as a whole')
    .option('--bundle <dir>', "model bundle (default: the configuration's, else models/jetface-s)")
    .option('--mqtt <url>', 'broker to try (default: the configuration\'s, else $JETFACE_MQTT_URL)')
    .option('--outbox-dir <dir>', 'outbox folder: writable, with room for the outbox')
    .option('--gallery <file>', 'SQLite gallery file to open read-only')
    .option('--timeout-ms <ms>', 'how long the broker may take to answer (default 5000)')
    .addOption(jsonOption())
    .action(async (o: DoctorCliOptions) => {
      const report = await runDoctor({
        ...(o.config !== undefined ? { config: o.config } : {}),
        ...(o.bundle !== undefined ? { bundle: o.bundle } : {}),
        ...(o.mqtt !== undefined ? { mqtt: o.mqtt } : {}),
        ...(o.outboxDir !== undefined ? { outboxDir: o.outboxDir } : {}),
        ...(o.gallery !== undefined ? { gallery: o.gallery } : {}),
        ...(o.timeoutMs !== undefined ? { brokerTimeoutMs: parseNumber('--timeout-ms', o.timeoutMs) } : {}),
      });
      if (o.json) console.log(JSON.stringify(report));
      else {
        const width = Math.max(...report.checks.map((c) => c.name.length));
        for (const c of report.checks) {
          console.log(`${MARK[c.status]}  ${c.name.padEnd(width)}  ${c.message}`);
          if (c.fix) console.log(`${' '.repeat(width + 8)}fix: ${c.fix}`);
        }
      }
      const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.name);
      if (failed.length > 0) throw new DoctorFailedError(failed);
    });
}
