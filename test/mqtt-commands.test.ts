/** Remote commands over the embedded aedes broker: signed, authorized, answered; everything else refused and never run. */
import mqtt, { type MqttClient } from 'mqtt';
import { CommandRefusedError, type CommandRefusalReason } from '../sdk/errors';
import { canonicalJson, commandHmac, signCommand, type SignedCommand } from '../sdk/mqtt/command-auth';
import { CommandChannel, type CommandResponse } from '../sdk/mqtt/commands';
import { startEmbeddedBroker, type EmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { until } from './support/events';

const fast = { backoff: { initialMs: 50, maxMs: 300 }, connectTimeoutMs: 2000 };
const SECRET = 'a-shared-secret-of-enough-bytes';
const BASE = 'jetface/jetson-1/commands';

describe('canonical JSON and signing', () => {
  it('sorts keys recursively and signs everything but hmac', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}');
    const signed = signCommand({ verb: 'list', clientId: 'backend-1', device: 'jetson-1', args: { z: 1, a: 2 } }, SECRET);
    expect(signed.hmac).toMatch(/^[0-9a-f]{64}$/);
    expect(commandHmac({ ...signed, args: { a: 2, z: 1 } }, SECRET)).toBe(signed.hmac); // key order does not matter
    expect(commandHmac({ ...signed, args: { a: 2, z: 2 } }, SECRET)).not.toBe(signed.hmac);
    expect(commandHmac({ ...signed, device: 'jetson-2' }, SECRET)).not.toBe(signed.hmac); // the device is signed
    expect(() => signCommand({ verb: 'list', clientId: 'x', device: 'jetson-1' }, 'short')).toThrow(/at least 16 bytes/);
    expect(() => signCommand({ verb: 'list', clientId: 'x' } as never, SECRET)).toThrow(/command\.device/);
  });
});

describe('CommandChannel over the embedded aedes broker', () => {
  let broker: EmbeddedBroker;
  let channel: CommandChannel;
  let backend: MqttClient;
  const responses: { topic: string; body: CommandResponse }[] = [];
  const refused: CommandRefusedError[] = [];
  const calls: unknown[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    channel = await CommandChannel.create({
      url: broker.url,
      ...fast,
      device: 'jetson-1',
      secret: Buffer.from(SECRET),
      allowedClients: ['backend-1'],
      maxSkewMs: 5000,
      handlers: {
        list: async (args) => {
          calls.push(args);
          return { people: ['ada'], args };
        },
        delete: () => {
          calls.push('delete');
          throw new Error('disk on fire');
        },
      },
    });
    channel.on('refused', (e) => refused.push(e));
    backend = await mqtt.connectAsync(broker.url);
    await backend.subscribeAsync('jetface/jetson-1/#', { qos: 1 });
    backend.on('message', (topic, payload) => {
      if (topic.endsWith('/response') || topic.includes('/replies/')) responses.push({ topic, body: JSON.parse(payload.toString()) as CommandResponse });
    });
  });
  afterAll(async () => {
    await backend?.endAsync();
    await channel?.close();
    await broker?.close();
  });

  const send = (verb: string, payload: string | object) => backend.publishAsync(`${BASE}/${verb}`, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
  const sign = (extra: Partial<SignedCommand> = {}, secret = SECRET) => signCommand({ verb: 'list', clientId: 'backend-1', device: 'jetson-1', args: { q: 1 }, ...extra }, secret);
  const responseTo = async (id: string) => {
    await until(() => responses.some((r) => r.body.id === id), 3000, `the response to ${id}`);
    return responses.find((r) => r.body.id === id)!;
  };

  it('runs an authorized command and answers on the response topic, signed', async () => {
    const command = sign();
    await send('list', command);
    const { topic, body } = await responseTo(command.id);
    expect(topic).toBe(`${BASE}/list/response`);
    expect(body).toMatchObject({ id: command.id, ok: true, result: { people: ['ada'], args: { q: 1 } } });
    expect(body.hmac).toBe(commandHmac(body, SECRET));
    expect(calls).toHaveLength(1);
  });

  it('answers on a responseTopic inside the device tree', async () => {
    const command = sign({ responseTopic: 'jetface/jetson-1/replies/backend-1' });
    await send('list', command);
    expect((await responseTo(command.id)).topic).toBe('jetface/jetson-1/replies/backend-1');
  });

  it('refuses every malformed or unauthorized command with a typed reason, never runs it, and keeps serving', async () => {
    calls.length = 0;
    refused.length = 0;
    const before = channel.stats();
    const replayed = sign();
    await send('list', replayed);
    await responseTo(replayed.id);
    calls.length = 0;
    const tampered = { ...sign(), args: { q: 2 } };
    // Signed (correctly) for another device sharing the secret, or in the format without `device`.
    const { hmac: _hmac, device: _device, ...deviceless } = sign({ id: 'no-device' });
    const legacy = { ...deviceless, hmac: commandHmac(deviceless, SECRET) };
    const cases: [CommandRefusalReason, string, string | object, string | undefined][] = [
      ['json', 'list', '{"not json', undefined],
      ['too_large', 'list', `{"id":"big","pad":"${'x'.repeat(300 * 1024)}"}`, undefined],
      ['shape', 'list', { id: 'shape-1', verb: 'list', clientId: 'backend-1', issuedAt: 'yesterday', hmac: 'zz' }, 'shape-1'],
      ['hmac', 'list', tampered, tampered.id],
      ['hmac', 'list', sign({ id: 'wrong-secret' }, 'another-secret-of-16-bytes'), 'wrong-secret'],
      ['client', 'list', sign({ id: 'intruder', clientId: 'intruder' }), 'intruder'],
      ['stale', 'list', sign({ id: 'old', issuedAt: new Date(Date.now() - 60_000).toISOString() }), 'old'],
      ['stale', 'list', sign({ id: 'future', issuedAt: new Date(Date.now() + 60_000).toISOString() }), 'future'],
      ['replay', 'list', replayed, replayed.id],
      ['verb', 'format', sign({ id: 'unknown-verb', verb: 'format' }), 'unknown-verb'],
      ['shape', 'delete', sign({ id: 'topic-mismatch' }), 'topic-mismatch'],
      ['response_topic', 'list', sign({ id: 'escape', responseTopic: 'jetface/other-device/x' }), 'escape'],
      ['shape', 'list', sign({ id: 'other-device', device: 'jetson-2' }), 'other-device'],
      ['shape', 'list', legacy, 'no-device'],
    ];
    for (const [, verb, payload] of cases) await send(verb, payload);
    await until(() => refused.length === cases.length, 3000, `${cases.length} refusals`);
    expect(refused.map((e) => e.reason)).toEqual(cases.map(([reason]) => reason));
    expect(refused.at(-2)?.message).toMatch(/device jetson-2 does not match this device jetson-1/);
    expect(refused.at(-1)?.message).toMatch(/must have required property 'device'/);
    for (const error of refused) {
      expect(error).toBeInstanceOf(CommandRefusedError);
      expect(error.code).toBe('E_COMMAND_REFUSED');
    }
    for (const [reason, , , id] of cases) {
      if (id === undefined || id === replayed.id) continue;
      const { body, topic } = await responseTo(id);
      expect(body).toMatchObject({ ok: false, error: { code: 'E_COMMAND_REFUSED', reason } });
      expect(topic.startsWith('jetface/jetson-1/')).toBe(true);
    }
    await until(() => responses.filter((r) => r.body.id === replayed.id).length === 2, 3000, 'the replay refusal');
    expect(responses.filter((r) => r.body.id === replayed.id).map((r) => r.body.ok)).toEqual([true, false]);
    expect(calls).toHaveLength(0);
    const after = channel.stats();
    expect(after.refused - before.refused).toBe(cases.length);
    expect(after.refusedBy).toMatchObject({ too_large: 1, json: 1, shape: 4, hmac: 2, client: 1, stale: 2, replay: 1, verb: 1, response_topic: 1 });
    expect(after.executed - before.executed).toBe(1);

    const valid = sign();
    await send('list', valid);
    expect((await responseTo(valid.id)).body).toMatchObject({ ok: true });
    expect(calls).toHaveLength(1);
  });

  it('turns a throwing handler into an ok:false response and stays up', async () => {
    const command = sign({ verb: 'delete' });
    await send('delete', command);
    const { topic, body } = await responseTo(command.id);
    expect(topic).toBe(`${BASE}/delete/response`);
    expect(body).toMatchObject({ ok: false, error: { code: 'E_COMMAND_FAILED', message: expect.stringContaining('disk on fire') } });
    expect(channel.stats()).toMatchObject({ connected: true, failed: 1 });
    const next = sign();
    await send('list', next);
    expect((await responseTo(next.id)).body.ok).toBe(true);
  });
});
