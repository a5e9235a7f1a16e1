import { chmod, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { hashPassword } from '../../console/password';
import { ConsoleError } from '../../errors';
import { registerFleetConsole } from './console-fleet';

interface PasswdOptions {
  out?: string;
}

/** Reads a password: typed without echo on a terminal (twice), else the first line of stdin. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    return text.split(/\r?\n/)[0] ?? '';
  }
  const ask = (prompt: string): Promise<string> =>
    new Promise((resolve) => {
      // The prompt goes straight to the terminal; readline's own echo goes to a sink, so nothing typed shows.
      process.stderr.write(prompt);
      const silent = new Writable({ write: (_chunk, _enc, done) => done() });
      const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
      rl.question('', (answer) => {
        rl.close();
        process.stderr.write('\n');
        resolve(answer);
      });
    });
  const first = await ask('console password: ');
  const second = await ask('again: ');
  if (first !== second) throw new ConsoleError('the two passwords differ; nothing was written', { field: 'password' });
  return first;
}

/**
 * `jetface console passwd [--out FILE]`: the scrypt hash of the console's password, for
 * `console.passwordHashFile` (or the variable named by `console.passwordHashEnv`); the password itself is stored nowhere.
 */
export function registerConsole(program: Command): void {
  const command = program.command('console').description('the device console (web pages); see docs/console.md');
  registerFleetConsole(command);
  command
    .command('passwd')
    .description("hash the console's password (scrypt) for console.passwordHashFile / passwordHashEnv; reads it from the terminal or stdin")
    .option('--out <file>', 'write the hash to this file (mode 0600) instead of stdout')
    .action(async (o: PasswdOptions) => {
      const hash = await hashPassword(await readPassword());
      if (o.out) {
        await writeFile(o.out, `${hash}\n`, { mode: 0o600 });
        await chmod(o.out, 0o600); // writeFile's mode applies only to a new file
        process.stderr.write(`wrote ${o.out}; set console.passwordHashFile: ${o.out}\n`);
      } else process.stdout.write(`${hash}\n`);
    });
}
