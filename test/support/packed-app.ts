/**
 * The package as users get it: `npm pack` of the checkout, installed into a fresh app in the
 * system's temporary folder (outside the checkout, so nothing resolves from its node_modules).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { tempDir } from './data';

export const ROOT = resolve(__dirname, '..', '..');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * The environment of a user's shell: without the `npm_*` variables and node_modules/.bin paths
 * that `npm test` adds (they would hand the checkout's .npmrc settings and tools to the app).
 */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'NODE_PATH' || key === 'NODE_OPTIONS' || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  env['PATH'] = (process.env['PATH'] ?? '').split(delimiter).filter((p) => !p.includes('node_modules/.bin')).join(delimiter);
  return { ...env, ...extra };
}

/** Runs a command to its end (killed after `timeoutMs`), collecting its output. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: userEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A process left running (a broker, a subscriber): its output so far, and a way to stop it. */
export interface Background {
  output(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<RunResult>;
}

export function start(command: string, args: readonly string[], options: RunOptions): Background {
  const child = spawn(command, args, { cwd: options.cwd, env: userEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<RunResult>((done) => child.on('close', (code) => done({ code, stdout, stderr })));
  return {
    output: () => stdout,
    async waitFor(pattern, timeoutMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(stdout);
        if (match) return match[0];
        if (child.exitCode !== null || Date.now() > until) throw new Error(`no ${pattern} in the output of ${command} ${args.join(' ')}:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const result = await closed;
      clearTimeout(timer);
      return result;
    },
  };
}

/** What `npm pack --json` says about the tarball. */
export interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
}

export interface PackedApp {
  dir: string;
  tarball: string;
  pack: PackInfo;
  installMs: number;
}

async function checked(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const r = await run(command, args, options);
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * Packs the checkout (its dist/ as built by `npm test`) and installs the tarball into a new app
 * the way the README tells users to: an `.npmrc` that skips onnxruntime-node's GPU-library
 * download, better-sqlite3's install script allowed to run.
 */
export async function packAndInstall(): Promise<PackedApp> {
  const work = tempDir('jetface-package-');
  const packed = await checked('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, timeoutMs: 120_000 });
  const pack = (JSON.parse(packed.stdout) as PackInfo[])[0]!;
  const tarball = join(work, pack.filename);
  const dir = join(work, 'app');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'jetface-package-test-app', version: '1.0.0', private: true }, null, 2)}\n`);
  writeFileSync(join(dir, '.npmrc'), 'onnxruntime-node-install=skip\n');
  const started = Date.now();
  await checked('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: dir, env: sqlitePrebuild(work), timeoutMs: 540_000 });
  return { dir, tarball, pack, installMs: Date.now() - started };
}

/**
 * Where no better-sqlite3 binary downloads (no internet but the npm registry, as here), its
 * install compiles SQLite: 1.5-2 min on 2 cores. The checkout already compiled the same version
 * for this Node; handing it over as a local prebuild stands in for the download, so the install
 * still runs the package's own install script. Absent or another version: it compiles.
 */
function sqlitePrebuild(work: string): Record<string, string> {
  const pkgDir = join(ROOT, 'node_modules', 'better-sqlite3');
  const binary = join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  if (!existsSync(binary)) return {};
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const dir = join(work, 'prebuilds');
  mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const tar = spawnSync('tar', ['-czf', join(dir, name), '-C', pkgDir, 'build/Release/better_sqlite3.node'], { stdio: 'ignore' });
  return tar.status === 0 ? { npm_config_better_sqlite3_local_prebuilds: dir } : {};
}

/** Copies files into the app (scripts, examples, sample photos). */
export function copyInto(dir: string, files: readonly { from: string; to: string }[]): void {
  for (const f of files) {
    mkdirSync(resolve(dir, f.to, '..'), { recursive: true });
    copyFileSync(f.from, join(dir, f.to));
  }
}
