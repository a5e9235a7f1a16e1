/**
 * A real mosquitto for tests and scripts: its own config in a temp folder, free loopback ports,
 * a password file, and TLS with a throwaway CA made by openssl at start (no committed keys).
 *
 *   port      plain TCP, username/password
 *   tlsPort   TLS, username/password
 *   mtlsPort  TLS with a required client certificate (its CN is the username)
 *
 * Persistence is on, so QoS 1 messages queued for persistent sessions survive stop()/start().
 * No jest globals at module level: scripts/check-outage.ts uses this file too.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const SEARCH = ['/usr/sbin', '/usr/local/sbin', '/opt/homebrew/sbin', '/usr/local/opt/mosquitto/sbin'];

/** The mosquitto binary: `$MOSQUITTO`, then PATH, then the usual sbin folders. */
export function findMosquitto(): string | undefined {
  const fromEnv = process.env['MOSQUITTO'];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...SEARCH];
  return dirs.map((d) => join(d, 'mosquitto')).find((p) => existsSync(p));
}

export const MOSQUITTO_MISSING = 'mosquitto is not installed (Debian/Ubuntu: apt-get install -y mosquitto; macOS: brew install mosquitto), or set MOSQUITTO=/path/to/mosquitto';

export interface MosquittoOptions {
  /** Accepted users (default one: `jetface` with a random password). */
  users?: Record<string, string>;
}

export interface MosquittoBroker {
  host: string;
  port: number;
  tlsPort: number;
  mtlsPort: number;
  url: string;
  tlsUrl: string;
  mtlsUrl: string;
  users: Record<string, string>;
  /** The first user, for convenience. */
  username: string;
  password: string;
  dir: string;
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** The CN of the client certificate: the username it authenticates as on mtlsPort. */
  clientCertName: string;
  running(): boolean;
  /** SIGTERM and wait: mosquitto saves its persistence file on the way out. */
  stop(): Promise<void>;
  /** Starts it again on the same ports with the same config and data. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
  log(): string;
}

/** Starts mosquitto; throws with {@link MOSQUITTO_MISSING} when it is not installed. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const binary = findMosquitto();
  if (!binary) throw new Error(MOSQUITTO_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'jetface-mosquitto-'));
  const users = options.users ?? { jetface: randomBytes(9).toString('base64url') };
  const [username, password] = Object.entries(users)[0] ?? ['', ''];
  const [port = 0, tlsPort = 0, mtlsPort = 0] = await freePorts(3);
  makeCertificates(dir);
  writeFileSync(join(dir, 'passwd'), Object.entries(users).map(([u, p]) => passwordLine(u, p)).join(''));
  const tls = `cafile ${join(dir, 'ca.crt')}\ncertfile ${join(dir, 'server.crt')}\nkeyfile ${join(dir, 'server.key')}\n`;
  writeFileSync(
    join(dir, 'mosquitto.conf'),
    [
      'per_listener_settings true',
      'persistence true',
      `persistence_location ${dir}/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${join(dir, 'passwd')}`,
      `listener ${tlsPort} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${join(dir, 'passwd')}`,
      tls,
      `listener ${mtlsPort} 127.0.0.1`,
      'allow_anonymous false',
      'require_certificate true',
      'use_identity_as_username true',
      tls,
    ].join('\n'),
  );
  giveToMosquittoUser(dir);

  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    if (child) return;
    const proc = spawn(binary, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    proc.on('exit', () => {
      if (child === proc) child = undefined;
    });
    await waitForPorts([port, tlsPort, mtlsPort], () => child === proc, () => log);
  };
  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    tlsPort,
    mtlsPort,
    url: `mqtt://127.0.0.1:${port}`,
    tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
    mtlsUrl: `mqtts://127.0.0.1:${mtlsPort}`,
    users,
    username,
    password,
    dir,
    caFile: join(dir, 'ca.crt'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
    clientCertName: 'jetface-client',
    running: () => child !== undefined,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => log,
  };
}

/** describe() that runs only where mosquitto and openssl are installed, and says why when they are not. */
export function describeWithMosquitto(name: string, fn: () => void): void {
  const missing = !findMosquitto() ? MOSQUITTO_MISSING : !hasOpenssl() ? 'openssl is not installed (it makes the test certificates)' : undefined;
  if (missing === undefined) describe(name, fn);
  else describe.skip(`${name} (skipped: ${missing})`, fn);
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// mosquitto 2's password file format: $7$ = PBKDF2-SHA512, then iterations, salt and hash in base64.
function passwordLine(user: string, password: string): string {
  const salt = randomBytes(12);
  const iterations = 101;
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `${user}:$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}\n`;
}

function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=jetface test CA');
  const sign = (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  sign('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  sign('client', 'jetface-client', 'extendedKeyUsage=clientAuth\n');
}

// As root, mosquitto drops to the `mosquitto` user, which must be able to read its keys and
// password file and write its persistence file.
function giveToMosquittoUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'mosquitto']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'mosquitto']).toString().trim());
  } catch {
    return; // no such user: mosquitto then stays root (or refuses to start, and says so in its log)
  }
  chownSync(dir, uid, gid);
  for (const name of readdirSync(dir)) if (statSync(join(dir, name)).isFile()) chownSync(join(dir, name), uid, gid);
}

/** Loopback ports free right now (the kernel picked them). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    return typeof address === 'object' && address ? address.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function waitForPorts(ports: readonly number[], alive: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (const port of ports) {
    for (;;) {
      if (!alive()) throw new Error(`mosquitto exited during start:\n${log()}`);
      if (await canConnect(port)) break;
      if (Date.now() > deadline) throw new Error(`mosquitto did not open port ${port} within 10 s:\n${log()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Reads a file, for TLS options in tests. */
export function read(file: string): Buffer {
  return readFileSync(file);
}
