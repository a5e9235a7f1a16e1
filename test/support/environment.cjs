// onnxruntime-node and worker_threads hand back typed arrays built in Node's main realm; jest runs
// tests in a vm sandbox whose Float32Array is a different constructor, so `instanceof` and ORT's
// own type checks fail. Sharing the main realm's constructors makes both realms agree.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Uint8Array', 'Uint8ClampedArray', 'Int8Array',
  'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array',
  'BigInt64Array', 'BigUint64Array', 'Buffer',
];

class MainRealmTypedArrayEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = MainRealmTypedArrayEnvironment;
