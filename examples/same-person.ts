/**
 * A small device app: is the person in photo A the person in photo B?
 *
 *   npx tsx examples/same-person.ts BUNDLE_DIR A.jpg B.jpg
 *
 * Takes the largest face of each photo and compares their embeddings against the bundle's
 * default match threshold.
 */
import { FaceEngine, JetfaceError, loadImageFrame, type Face } from 'jetface';

function largest(faces: Face[]): Face | undefined {
  const area = (f: Face): number => (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]);
  return [...faces].sort((a, b) => area(b) - area(a))[0];
}

function cosine(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum; // embeddings are L2-normalized
}

async function main(bundleDir: string, photoA: string, photoB: string): Promise<void> {
  const engine = await FaceEngine.create(bundleDir);
  try {
    console.log(`running ${engine.info.name} on ${engine.info.provider}`);
    const [a, b] = await Promise.all([photoA, photoB].map(async (p) => largest(await engine.detect(await loadImageFrame(p)))));
    if (!a || !b) {
      console.log(`no face found in ${!a ? photoA : photoB}`);
      return;
    }
    const similarity = cosine(a.embedding, b.embedding);
    const same = similarity >= engine.manifest.thresholds.match;
    console.log(`similarity ${similarity.toFixed(3)}: ${same ? 'same person' : 'different people'}`);
  } finally {
    await engine.close();
  }
}

const [bundleDir, photoA, photoB] = process.argv.slice(2);
if (!bundleDir || !photoA || !photoB) {
  console.error('usage: examples/same-person.ts BUNDLE_DIR A.jpg B.jpg');
  process.exitCode = 2;
} else {
  main(bundleDir, photoA, photoB).catch((error: unknown) => {
    console.error(error instanceof JetfaceError ? `${error.code}: ${error.message}` : error);
    process.exitCode = 1;
  });
}
