/**
 * Remote enrollment over the embedded aedes broker: a signed enroll from an allowed client enrolls
 * into the SQLite file; unsigned, wrongly signed, unknown-client and replayed commands are refused,
 * counted, and leave the database unchanged; malformed arguments answer ok:false naming the field.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { FaceEngine } from '../sdk/engine/face-engine';
import { InvalidArgumentError } from '../sdk/errors';
import { galleryCommandHandlers } from '../sdk/gallery/commands';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import { signCommand, type SignedCommand } from '../sdk/mqtt/command-auth';
import { CommandChannel, type CommandResponse } from '../sdk/mqtt/commands';
import { startEmbeddedBroker, type EmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { dataPath, describeWithData, tempDir } from './support/data';
import { until } from './support/events';

const BUNDLE = resolve(__dirname, '..', 'models', 'jetface-s');
const SECRET = 'a-shared-secret-of-enough-bytes';
const BASE = 'jetface/jetson-1/commands';
const fast = { backoff: { initialMs: 50, maxMs: 300 }, connectTimeoutMs: 2000 };

describeWithData('gallery commands over MQTT (enroll, delete, list)', () => {
  let broker: EmbeddedBroker;
  let engine: FaceEngine;
  let gallery: SqliteGallery;
  let channel: CommandChannel;
  let backend: MqttClient;
  let dbFile: string;
  const responses: CommandResponse[] = [];
  let photo: string;

  beforeAll(async () => {
    engine = await FaceEngine.create(BUNDLE);
    dbFile = join(tempDir('jetface-cmd-'), 'gallery.db');
    gallery = SqliteGallery.open(dbFile, { modelId: embeddingSpaceId(engine.manifest) });
    broker = await startEmbeddedBroker({ port: 0 });
    channel = await CommandChannel.create({
      url: broker.url,
      ...fast,
      device: 'jetson-1',
      secret: SECRET,
      allowedClients: ['backend-1'],
      maxPayloadBytes: 4 * 1024 * 1024,
      handlers: galleryCommandHandlers({ gallery, engine, maxImages: 3 }),
    });
    backend = await mqtt.connectAsync(broker.url);
    await backend.subscribeAsync(`${BASE}/+/response`, { qos: 1 });
    backend.on('message', (_topic, payload) => responses.push(JSON.parse(payload.toString()) as CommandResponse));
    photo = readFileSync(dataPath('video', 'enroll', 'lin-manuel-miranda.png')).toString('base64');
  });
  afterAll(async () => {
    await backend?.endAsync();
    await channel?.close();
    await broker?.close();
    gallery?.close();
    await engine?.close();
  });

  const send = (command: object) => backend.publishAsync(`${BASE}/${(command as SignedCommand).verb}`, JSON.stringify(command), { qos: 1 });
  const sign = (verb: string, args: unknown, extra: Partial<SignedCommand> = {}, secret = SECRET) => signCommand({ verb, clientId: 'backend-1', device: 'jetson-1', args, ...extra }, secret);
  const answer = async (id: string) => {
    await until(() => responses.some((r) => r.id === id), 10_000, `the response to ${id}`);
    return responses.filter((r) => r.id === id);
  };
  /** What the database file itself holds (read with a second connection). */
  const fileRows = () => {
    const db = new Database(dbFile, { readonly: true });
    try {
      return { people: (db.prepare('SELECT person_id FROM people ORDER BY person_id').all() as { person_id: string }[]).map((r) => r.person_id), embeddings: (db.prepare('SELECT COUNT(*) AS n FROM embeddings').get() as { n: number }).n };
    } finally {
      db.close();
    }
  };

  it('enrolls from a signed command of an allowed client and answers with the outcomes', async () => {
    const command = sign('enroll', { personId: 'lmm', name: 'Lin-Manuel Miranda', metadata: { badge: 7 }, images: [photo] });
    await send(command);
    const [response] = await answer(command.id);
    expect(response).toMatchObject({ ok: true, result: { enrolled: 1, refused: 0, person: { personId: 'lmm', metadata: { badge: 7 } }, outcomes: [{ status: 'enrolled', source: 'images[0]' }] } });
    expect(fileRows()).toEqual({ people: ['lmm'], embeddings: 1 });
    const list = sign('list', {});
    await send(list);
    expect((await answer(list.id))[0]).toMatchObject({ ok: true, result: { people: [{ personId: 'lmm', embeddings: 1 }] } });
    // rename: a new name, the rest kept; an unknown id is answered E_PERSON_NOT_FOUND
    const rename = sign('rename', { personId: 'lmm', name: 'Lin-Manuel' });
    await send(rename);
    expect((await answer(rename.id))[0]).toMatchObject({ ok: true, result: { person: { personId: 'lmm', name: 'Lin-Manuel', metadata: { badge: 7 }, embeddings: 1 } } });
    const nobody = sign('rename', { personId: 'nobody', name: 'X' });
    await send(nobody);
    expect((await answer(nobody.id))[0]).toMatchObject({ ok: false, error: { code: 'E_PERSON_NOT_FOUND' } });
  });

  it('refuses unsigned, wrongly signed, unknown-client, other-device and replayed enroll/delete commands: counted, never run, database unchanged', async () => {
    const before = channel.stats();
    const rows = fileRows();
    const enrollArgs = { personId: 'intruder', name: 'Intruder', images: [photo] };
    const good = sign('delete', { personId: 'zzz-nobody' });
    await send(good);
    await answer(good.id);
    const { hmac: _drop, ...unsigned } = sign('enroll', enrollArgs);
    const cases: object[] = [
      unsigned, // no hmac at all: refused by shape
      { ...unsigned, id: `${unsigned.id}-z`, hmac: '0'.repeat(64) },
      sign('enroll', enrollArgs, {}, 'another-secret-of-16-bytes'),
      { ...sign('delete', { personId: 'zzz-nobody' }), args: { personId: 'lmm' } }, // tampered after signing
      sign('enroll', enrollArgs, { clientId: 'intruder' }),
      sign('delete', { personId: 'lmm' }, { clientId: 'intruder' }),
      good, // replayed
      sign('delete', { personId: 'lmm' }, { device: 'jetson-2' }), // signed for another device sharing the secret
    ];
    for (const c of cases) await send(c);
    const ids = cases.map((c) => (c as SignedCommand).id);
    await until(() => channel.stats().refused - before.refused === cases.length, 10_000, 'the refusals');
    for (const id of ids) {
      // The refusal is counted before its answer is published: wait for the ok:false answer itself.
      await until(() => responses.some((r) => r.id === id && !r.ok), 10_000, `the refusal of ${id}`);
      expect(responses.find((r) => r.id === id && !r.ok)).toMatchObject({ ok: false, error: { code: 'E_COMMAND_REFUSED' } });
    }
    const after = channel.stats();
    expect(after.refusedBy.shape - before.refusedBy.shape).toBe(2);
    expect(after.refusedBy.hmac - before.refusedBy.hmac).toBe(3);
    expect(after.refusedBy.client - before.refusedBy.client).toBe(2);
    expect(after.refusedBy.replay - before.refusedBy.replay).toBe(1);
    expect(after.executed - before.executed).toBe(1); // only the first, good delete
    expect(fileRows()).toEqual(rows);
  });

  it('answers malformed arguments with ok:false naming the field, changing nothing', async () => {
    const rows = fileRows();
    const cases: [unknown, string][] = [
      [{ name: 'X', images: [photo] }, 'args.personId'],
      [{ personId: 'x', images: [photo] }, 'args.name'],
      [{ personId: 'x', name: 'X', images: [] }, 'args.images'],
      [{ personId: 'x', name: 'X', images: [photo, photo, photo, photo] }, 'args.images'],
      [{ personId: 'x', name: 'X', images: ['***not base64***'] }, 'args.images[0]'],
      [{ personId: 'x', name: 'X', images: [photo, Buffer.from('GIF89a-not-allowed').toString('base64')] }, 'args.images[1]'],
      [{ personId: 'x', name: 'X', metadata: [1], images: [photo] }, 'args.metadata'],
      // The gallery's own rules (1-200 characters), checked before any image is decoded.
      [{ personId: 'x', name: '', images: [photo] }, 'args.name'],
      [{ personId: 'x', name: 'n'.repeat(201), images: [photo] }, 'args.name'],
      [{ personId: 'x'.repeat(201), name: 'X', images: [photo] }, 'args.personId'],
      [{ personId: 'x', name: 'X', threshold: '0.5', images: [photo] }, 'args.threshold'],
      ['just a string', 'args'],
    ];
    for (const [args, field] of cases) {
      const command = sign('enroll', args);
      await send(command);
      const [response] = await answer(command.id);
      expect(response).toMatchObject({ ok: false, error: { code: 'E_INVALID_ARGUMENT', message: expect.stringContaining(`expected ${field} to be`) } });
    }
    const del = sign('delete', { personId: 42 });
    await send(del);
    expect((await answer(del.id))[0]).toMatchObject({ ok: false, error: { message: expect.stringContaining('args.personId') } });
    expect(fileRows()).toEqual(rows);
    expect(() => galleryCommandHandlers({ gallery, engine, maxImages: 0 })).toThrow(InvalidArgumentError);
  });

  it('runs the quality gates remotely and deletes a person with every embedding', async () => {
    const couple = readFileSync(dataPath('scenes', 'couple.jpg')).toString('base64');
    const enroll = sign('enroll', { personId: 'pair', name: 'Pair', images: [couple] });
    await send(enroll);
    expect((await answer(enroll.id))[0]).toMatchObject({ ok: true, result: { enrolled: 0, person: null, outcomes: [{ status: 'refused', reason: 'multiple_faces' }] } });
    const del = sign('delete', { personId: 'lmm' });
    await send(del);
    expect((await answer(del.id))[0]).toMatchObject({ ok: true, result: { personId: 'lmm', deleted: true } });
    expect(fileRows()).toEqual({ people: [], embeddings: 0 });
  });
});
