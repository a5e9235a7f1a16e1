// The SDK from CommonJS, as an installed package: the default bundle on a sample photo.
const { FaceEngine, loadImageFrame } = require('jetface');

async function main() {
  const engine = await FaceEngine.create('node_modules/jetface/models/jetface-s');
  try {
    const faces = await engine.detect(await loadImageFrame(process.argv[2]));
    console.log(JSON.stringify({ provider: engine.info.provider, faces: faces.length, score: faces[0]?.score, embedding: faces[0]?.embedding.length }));
  } finally {
    await engine.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
