// The SDK from ESM, as an installed package: the default bundle on a sample photo.
import { FaceEngine, loadImageFrame } from 'jetface';

const engine = await FaceEngine.create('node_modules/jetface/models/jetface-s');
try {
  const faces = await engine.detect(await loadImageFrame(process.argv[2]));
  console.log(JSON.stringify({ provider: engine.info.provider, faces: faces.length, score: faces[0]?.score, embedding: faces[0]?.embedding.length }));
} finally {
  await engine.close();
}
