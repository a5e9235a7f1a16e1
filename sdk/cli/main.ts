#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { JetfaceError } from '../errors';
import { version } from '../../package.json';
import { registerBench } from './commands/bench';
import { registerBundle } from './commands/bundle';
import { registerDetect } from './commands/detect';
import { registerDoctor } from './commands/doctor';
import { registerEnroll } from './commands/enroll';
import { registerEval } from './commands/eval';
import { registerGallery } from './commands/gallery';
import { registerLabel } from './commands/label';
import { registerModel } from './commands/model';
import { registerRun } from './commands/run';
import { registerDemo } from './commands/demo';
import { registerConsole } from './commands/console';

/** The `jetface` command line. Exit status: 0 ok, 1 a jetface error (its code printed), 2 usage. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('jetface').version(version).description('face detection + recognition for edge devices').exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerDetect(program);
  registerDoctor(program);
  registerEnroll(program);
  registerEval(program);
  registerBench(program);
  registerBundle(program);
  registerLabel(program);
  registerModel(program);
  registerGallery(program);
  registerRun(program);
  registerDemo(program);
  registerConsole(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof JetfaceError) {
      process.stderr.write(`jetface: ${error.code}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`jetface: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  // `jetface detect ... | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
