// A TypeScript consumer of the package's types. Each @ts-expect-error fails the check if the
// declarations resolved to `any` (an unresolved import would make them so without an error).
import { FaceEngine, JetfaceError, loadImageFrame, type Face, type JetfaceEvent } from 'jetface';
import { checkTensorRt, readModel, type OnnxModel } from 'jetface/toolchain';

export async function largestScore(bundle: string, image: string): Promise<number | undefined> {
  const engine: FaceEngine = await FaceEngine.create(bundle, { providers: ['cpu'] });
  // @ts-expect-error a provider name is one of the execution providers
  void FaceEngine.create(bundle, { providers: ['gpu'] });
  const faces: Face[] = await engine.detect(await loadImageFrame(image));
  await engine.close();
  return faces[0]?.score;
}

export function describe(event: JetfaceEvent): string {
  // @ts-expect-error events are a discriminated union with known types only
  if (event.type === 'motion') return 'never';
  return event.type === 'recognition' ? (event.identity?.name ?? 'unknown') : event.type;
}

export async function opset(file: string): Promise<number> {
  const model: OnnxModel = await readModel(file);
  // @ts-expect-error the check takes a decoded model, not a path
  checkTensorRt(file);
  return checkTensorRt(model).opset;
}

export const isTyped = (e: unknown): boolean => e instanceof JetfaceError && typeof e.code === 'string';
