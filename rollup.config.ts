import { builtinModules } from 'node:module';
import type { RollupOptions } from 'rollup';
import dts from 'rollup-plugin-dts';
import esbuild from 'rollup-plugin-esbuild';
import json from '@rollup/plugin-json';
import { readFileSync, rmSync } from 'node:fs';

// dist/ is rebuilt whole: hashed chunks of earlier builds would otherwise ship in the package.
rmSync('dist', { recursive: true, force: true });

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };

// Dependencies stay external: native addons (onnxruntime-node, sharp) must load from node_modules.
const external = [...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...Object.keys(pkg.dependencies), /^onnxruntime-node\//];
const entries = { index: 'sdk/index.ts', toolchain: 'toolchain/index.ts' };
// __JETFACE_BUILT__: built code takes the built workers, never the tsx path for sources (sdk/engine/worker-script.ts).
const plugins = [json({ preferConst: true }), esbuild({ target: 'node20', tsconfig: 'tsconfig.json', define: { __JETFACE_BUILT__: 'true' } })];
// ESM output has no __dirname; the worker locator needs one (see sdk/engine/worker-script.ts).
const esmBanner = "import { fileURLToPath as __jf_fileURLToPath } from 'node:url'; import { dirname as __jf_dirname } from 'node:path'; import { createRequire as __jf_createRequire } from 'node:module'; const __filename = __jf_fileURLToPath(import.meta.url); const __dirname = __jf_dirname(__filename); const require = __jf_createRequire(import.meta.url);";

const config: RollupOptions[] = [
  {
    input: entries,
    external,
    plugins,
    output: [
      { dir: 'dist', format: 'esm', entryFileNames: '[name].mjs', chunkFileNames: 'chunks/[name]-[hash].mjs', banner: esmBanner },
      { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs', exports: 'named' },
    ],
  },
  {
    // The CLI and the workers (inference; TensorRT engine builds) are CommonJS files of their own.
    input: { cli: 'sdk/cli/main.ts', 'engine-worker': 'sdk/engine/worker-entry.ts', 'engine-build-worker': 'toolchain/engine/prebuild-worker.ts' },
    external,
    plugins,
    output: { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name]-[hash].cjs' },
  },
  {
    input: entries,
    external,
    plugins: [json(), dts()],
    output: { dir: 'dist', format: 'esm', entryFileNames: '[name].d.ts' },
  },
];

export default config;
