// The toolchain entry from CommonJS: a static TensorRT check of the default model, and an engine
// prebuild, which runs the packaged build worker (on a machine without TensorRT it fails there, typed).
const { checkTensorRt, prebuildEngines, readModel } = require('jetface/toolchain');
const ort = require('onnxruntime-node');

async function main() {
  const [cacheRoot] = process.argv.slice(2);
  const bundle = 'node_modules/jetface/models/jetface-s';
  const check = checkTensorRt(await readModel(`${bundle}/model.onnx`));
  const phases = [];
  const error = await prebuildEngines(bundle, { cacheRoot }, (e) => phases.push(e.phase)).then(
    () => null,
    (e) => ({ code: e.code, message: e.message }),
  );
  const tensorrtListed = ort.listSupportedBackends().some((b) => b.name === 'tensorrt');
  console.log(JSON.stringify({ check: { opset: check.opset, floatConvs: check.floatConvs }, prebuild: { phases, error }, tensorrtListed }));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
