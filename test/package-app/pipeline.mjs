// A device in one process: image folder -> Pipeline -> SQLite gallery -> MQTT (embedded broker) -> JetfaceSubscriber.
import { join } from 'node:path';
import { EventPublisher, FaceEngine, JetfaceSubscriber, Pipeline, SqliteGallery, embeddingSpaceId, startEmbeddedBroker } from 'jetface';

const [imagesDir, workDir] = process.argv.slice(2);
const broker = await startEmbeddedBroker({ port: 0 });
const engine = await FaceEngine.create('node_modules/jetface/models/jetface-s');
const gallery = SqliteGallery.open(join(workDir, 'gallery.db'), { modelId: embeddingSpaceId(engine.manifest), threshold: engine.manifest.thresholds.match });
const subscriber = await JetfaceSubscriber.create({ url: broker.url, types: ['recognition'] });
const publisher = await EventPublisher.create({ url: broker.url, device: 'packed-app', outbox: join(workDir, 'outbox.jsonl') });
const pipeline = await Pipeline.create({ engine, gallery, device: 'packed-app', sinks: [publisher], cameras: [{ id: 'photos', source: imagesDir }] });
try {
  const received = new Promise((resolve) => subscriber.once('event', resolve));
  await pipeline.start();
  await pipeline.finished();
  await publisher.flush(10_000);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no event over MQTT within 10 s')), 10_000).unref());
  const event = await Promise.race([received, timeout]);
  const [stats] = pipeline.stats();
  console.log(JSON.stringify({ event, frames: stats.frames, faces: stats.faces, events: stats.events }));
} finally {
  await pipeline.stop();
  await publisher.close();
  await subscriber.close();
  gallery.close();
  await engine.close();
  await broker.close();
}
