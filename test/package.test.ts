/**
 * The package as users get it (issue 13): `npm pack`, installed into a fresh app outside the
 * checkout (no ../shared, no dev dependencies), then the SDK, the pipeline, the toolchain entry,
 * the bin and the examples each do real work from that app. Uses dist/ as `npm test` builds it
 * just before jest: after changing sources, build before running this file alone.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { ROOT, copyInto, packAndInstall, run, start, type PackedApp, type RunResult } from './support/packed-app';

const DIST = join(ROOT, 'dist');
const describePacked = existsSync(join(DIST, 'index.cjs')) ? describe : describe.skip;
const SAMPLES = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const BUNDLE = 'node_modules/jetface/models/jetface-s';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
};

/** A command's stdout as JSON, failing with its output when it did not exit 0. */
function json<T>(r: RunResult): T {
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

function node(app: PackedApp, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, args, { cwd: app.dir, timeoutMs });
}

/** The package name a bare import specifier names (`@scope/name/sub` → `@scope/name`). */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

describePacked('the npm package, installed into an app', () => {
  let app: PackedApp;

  beforeAll(async () => {
    app = await packAndInstall();
    const scripts = readdirSync(join(__dirname, 'package-app')).map((f) => ({ from: join(__dirname, 'package-app', f), to: f }));
    const examples = readdirSync(join(ROOT, 'examples'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => ({ from: join(ROOT, 'examples', f), to: join('examples', f) }));
    // Six frames of one group photo: enough for the tracker to confirm and vote on each face.
    const frames = [1, 2, 3, 4, 5, 6].map((i) => ({ from: join(SAMPLES, 'sample5.jpg'), to: join('frames', `frame-${i}.jpg`) }));
    copyInto(app.dir, [...scripts, ...examples, ...frames, { from: join(SAMPLES, 'sample5.jpg'), to: 'group.jpg' }]);
    console.log(`npm pack: ${app.pack.size} bytes packed, ${app.pack.unpackedSize} unpacked, ${app.pack.entryCount} files; npm install in ${app.installMs} ms`);
  }, 600_000);

  // The app's node_modules is about 400 MB (onnxruntime-node's binaries for every platform).
  afterAll(() => {
    if (app) rmSync(dirname(app.dir), { recursive: true, force: true });
  });

  test('the tarball holds dist, the default bundle, the event schema, docs, README and LICENSE, and nothing else', () => {
    const files = app.pack.files.map((f) => f.path).sort();
    const allowed = [
      /^(package\.json|README\.md|LICENSE)$/,
      /^dist\/.+$/, // built code, declarations and whatever the build emits for users
      /^models\/jetface-s\/(manifest\.json|model\.onnx|MODEL_CARD\.md)$/,
      /^sdk\/events\/event\.schema\.json$/,
      /^docs\/[\w.-]+\.md$/,
      /^docs\/patches\/[\w.-]+\.patch$/,
      /^docs\/images\/[\w.-]+\.png$/, // the console's screenshots, shown by docs/console.md
    ];
    expect(files.filter((f) => !allowed.some((re) => re.test(f)))).toEqual([]);
    // No sources, source maps or tests inside dist/ either.
    expect(files.filter((f) => f.startsWith('dist/') && (/\.map$/.test(f) || (/\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f))))).toEqual([]);

    const entryPoints = [
      ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))),
      ...Object.values(pkg.bin),
    ].map((p) => p.replace(/^\.\//, ''));
    const required = ['LICENSE', 'README.md', 'docs/quickstart.md', 'dist/engine-worker.cjs', 'dist/engine-build-worker.cjs', ...entryPoints];
    expect(required.filter((f) => !files.includes(f))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(app.dir, BUNDLE, 'manifest.json'), 'utf8')) as { model?: { file: string } };
    expect(files).toContain(`models/jetface-s/${manifest.model?.file ?? 'model.onnx'}`);
    expect(readFileSync(join(app.dir, 'node_modules', 'jetface', 'LICENSE'), 'utf8')).toContain('Apache License');
    // The default model is about 2 MB; a much bigger tarball means something shipped by mistake.
    expect(app.pack.size).toBeLessThan(20 * 1024 * 1024);
  });

  test('nothing at run time comes from devDependencies', () => {
    // Statically: every module the built code loads is Node's own or a dependency.
    const runtime = new Set([...builtinModules, ...Object.keys(pkg.dependencies)]);
    const loaded = new Set<string>();
    const dist = join(app.dir, 'node_modules', 'jetface', 'dist');
    // The Node code (.cjs/.mjs); dist/console-web is a browser bundle.
    const codeFiles = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => /\.[cm]js$/.test(f));
    for (const file of codeFiles) {
      const code = readFileSync(join(dist, file), 'utf8');
      for (const m of code.matchAll(/(?:require(?:\.resolve)?\(|import\(|\bfrom )\s*['"]([^'"./][^'"]*)['"]/g)) loaded.add(packageName(m[1]!.replace(/^node:/, '')));
    }
    expect([...loaded].filter((name) => !runtime.has(name))).toEqual([]);
    expect(loaded).toContain('onnxruntime-node');
    // And the app has none of them (type packages aside): what the tests below run, ran without them.
    const devInstalled = Object.keys(pkg.devDependencies).filter((name) => !name.startsWith('@types/') && existsSync(join(app.dir, 'node_modules', name)));
    expect(devInstalled).toEqual([]);
  });

  test('require("jetface"): FaceEngine.create with the shipped bundle finds the faces of a photo', async () => {
    const out = json<{ provider: string; faces: number; score: number; embedding: number }>(await node(app, ['detect.cjs', 'group.jpg']));
    expect(out).toMatchObject({ provider: 'cpu', embedding: 128 });
    expect(out.faces).toBeGreaterThanOrEqual(3);
    expect(out.score).toBeGreaterThan(0.5);
  });

  test('import "jetface": the same from ESM', async () => {
    const out = json<{ provider: string; faces: number; embedding: number }>(await node(app, ['detect.mjs', 'group.jpg']));
    expect(out).toMatchObject({ provider: 'cpu', embedding: 128 });
    expect(out.faces).toBeGreaterThanOrEqual(3);
  });

  test('a Pipeline over an image folder publishes through the embedded broker to a JetfaceSubscriber', async () => {
    const work = join(app.dir, 'pipeline-work');
    mkdirSync(work);
    const out = json<{ event: { type: string; device: string; camera: string; trackId: string; box: number[] }; frames: number; faces: number }>(
      await node(app, ['pipeline.mjs', 'frames', work], 90_000),
    );
    expect(out.event).toMatchObject({ type: 'recognition', device: 'packed-app', camera: 'photos', trackId: expect.stringMatching(/^photos-/) });
    expect(out.event.box).toHaveLength(4);
    expect(out.frames).toBe(6);
    expect(out.faces).toBeGreaterThanOrEqual(6);
  });

  test('jetface/toolchain from require and import: a TensorRT check, and an engine prebuild in the packaged worker', async () => {
    const esm = json<{ opset: number; floatConvs: number }>(await node(app, ['toolchain.mjs']));
    expect(esm.opset).toBeGreaterThanOrEqual(13);
    expect(esm.floatConvs).toBeGreaterThan(0);

    const cjs = json<{ check: { opset: number }; prebuild: { phases: string[]; error: { code: string; message: string } | null }; tensorrtListed: boolean }>(
      await node(app, ['toolchain.cjs', join(app.dir, 'trt-cache')]),
    );
    expect(cjs.check.opset).toBe(esm.opset);
    // No TensorRT here: a typed refusal, never a worker that cannot start (E_WORKER).
    expect(cjs.prebuild.error?.code).toBe('E_PROVIDER_UNAVAILABLE');
    // Where the binding lists TensorRT (linux/x64 npm builds), the build worker ran and reported why.
    if (cjs.tensorrtListed) expect(cjs.prebuild.phases).toEqual(['loading', 'building', 'failed']);
  });

  test('the installed jetface bin: doctor --json and detect', async () => {
    const bin = join(app.dir, 'node_modules', '.bin', 'jetface');
    const doctor = await run(bin, ['doctor', '--json'], { cwd: app.dir, timeoutMs: 60_000 });
    const report = JSON.parse(doctor.stdout) as { ok: boolean; checks: { name: string; status: string; message: string }[] };
    expect(report.checks.find((c) => c.name === 'bundle')).toMatchObject({ status: 'ok', message: expect.stringContaining(join('node_modules', 'jetface', 'models', 'jetface-s')) });
    expect(report.checks.find((c) => c.name === 'provider:cpu')).toMatchObject({ status: 'ok' });

    const detect = await run(bin, ['detect', '--json', '--bundle', BUNDLE, 'group.jpg'], { cwd: app.dir, timeoutMs: 60_000 });
    const result = json<{ image: string; faces: { box: number[]; score: number }[] }>(detect);
    expect(result.image).toBe('group.jpg');
    expect(result.faces.length).toBeGreaterThanOrEqual(3);
  });

  test('TypeScript: the examples and a typed consumer check against the package with node16 and bundler resolution', async () => {
    // A TypeScript app has its own typescript and @types/node; tsc is the checkout's (same version CI uses).
    const typesNode = (JSON.parse(readFileSync(join(ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as { version: string }).version;
    const added = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--save-dev', `@types/node@${typesNode}`], { cwd: app.dir, timeoutMs: 120_000 });
    expect(added).toMatchObject({ code: 0 });
    const common = { target: 'es2022', strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true };
    const configs = {
      // A CommonJS app (no "type" in its package.json) whose examples compile to build/ and run below;
      // consumer.mts is ESM. Libraries checked too, with one caveat: onnx-proto's declarations (under
      // jetface/toolchain's) use protobufjs's global `Long` without referencing @types/long.
      'tsconfig.node16.json': { ...common, module: 'node16', moduleResolution: 'node16', types: ['node', 'long'], skipLibCheck: false, outDir: 'build', rootDir: '.' },
      'tsconfig.bundler.json': { ...common, module: 'esnext', moduleResolution: 'bundler', types: ['node'], skipLibCheck: true, noEmit: true },
    };
    for (const [file, compilerOptions] of Object.entries(configs)) {
      writeFileSync(join(app.dir, file), JSON.stringify({ compilerOptions, include: ['examples/*.ts', 'consumer.mts'] }, null, 2));
      const r = await run(process.execPath, [TSC, '-p', file], { cwd: app.dir, timeoutMs: 120_000 });
      expect({ file, code: r.code, output: r.stdout + r.stderr }).toEqual({ file, code: 0, output: '' });
    }
    expect(existsSync(join(app.dir, 'build', 'examples', 'door-access.js'))).toBe(true);
  });

  test('the examples run against the package: same-person, and door-access publishing to backend-subscriber', async () => {
    expect(existsSync(join(app.dir, 'build', 'examples', 'same-person.js'))).toBe(true); // compiled by the test above
    const same = await node(app, ['build/examples/same-person.js', BUNDLE, 'group.jpg', 'frames/frame-1.jpg']);
    expect(same).toMatchObject({ code: 0, stderr: '' });
    expect(same.stdout).toMatch(/running jetface-s on cpu\nsimilarity 1\.000: same person/);

    const work = join(app.dir, 'examples-work');
    mkdirSync(work);
    const broker = start(process.execPath, ['broker.mjs', work], { cwd: app.dir });
    try {
      const url = (await broker.waitFor(/mqtt:\/\/\S+/, 30_000)).trim();
      const subscriber = start(process.execPath, ['build/examples/backend-subscriber.js', url], { cwd: app.dir });
      try {
        await subscriber.waitFor(/probe is online/, 30_000); // subscribed: the device's events will reach it
        const door = await node(
          app,
          ['build/examples/door-access.js', '--bundle', BUNDLE, '--camera', 'frames', '--gallery', join(work, 'gallery.db'), '--mqtt', url, '--outbox', join(work, 'door.jsonl'), '--metrics-port', '0'],
          90_000,
        );
        expect(door.code).toBe(0);
        const logs = door.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
        expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['engine ready', 'door access running']));
        await subscriber.waitFor(/door-1\/door: unknown person \[door-\d+\]/, 20_000);
        expect(subscriber.output()).toContain('door-1 is online');
      } finally {
        const end = await subscriber.stop('SIGINT');
        expect(end.code).toBe(0);
        // Its only warnings: the camera going offline when the photos run out.
        expect(end.stderr.split('\n').filter((l) => l && !/door-1\/door: camera offline \(end of stream\)$/.test(l))).toEqual([]);
      }
    } finally {
      await broker.stop();
    }
  });
});
