/** The built package (rollup output, made by `npm test` before jest runs): ESM, CJS, types and the CLI. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const DIST = resolve(__dirname, '..', 'dist');
const describeBuilt = existsSync(join(DIST, 'index.cjs')) ? describe : describe.skip;

describeBuilt('dist/', () => {
  test('CommonJS and ESM entries expose the SDK and the toolchain, with type declarations', () => {
    const script = `
      const cjs = require(${JSON.stringify(join(DIST, 'index.cjs'))});
      const tool = require(${JSON.stringify(join(DIST, 'toolchain.cjs'))});
      import(${JSON.stringify(join(DIST, 'index.mjs'))}).then((esm) => {
        console.log(JSON.stringify({ cjs: typeof cjs.FaceEngine.create, esm: typeof esm.FaceEngine.create, tool: typeof tool.writeJointBundle, err: new cjs.FrameError('x').code }));
      });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ cjs: 'function', esm: 'function', tool: 'function', err: 'E_FRAME_INVALID' });
    for (const f of ['index.d.ts', 'toolchain.d.ts', 'engine-worker.cjs']) expect(existsSync(join(DIST, f))).toBe(true);
  });

  test('the built CLI runs the default bundle through the built worker', () => {
    const sample = resolve(__dirname, '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample5.jpg');
    const r = spawnSync(process.execPath, [join(DIST, 'cli.cjs'), 'detect', '--json', '--bundle', resolve(__dirname, '..', 'models', 'jetface-s'), sample], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { faces: unknown[] }).faces.length).toBeGreaterThanOrEqual(1);
  });
});
