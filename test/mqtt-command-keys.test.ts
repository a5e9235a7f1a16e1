/**
 * Per-client command keys over a real mosquitto: each client verifies with its own key, so one
 * client's key cannot sign as another; a revoked client is refused while the others still work;
 * the shared secret of `allowedClients` still works (and cannot sign for a client with its own key).
 */
import { CommandRefusedError, RemoteCommandError, type CommandRefusalReason } from '../sdk/errors';
import { commandHmac } from '../sdk/mqtt/command-auth';
import { CommandClient } from '../sdk/mqtt/command-client';
import { CommandChannel, type CommandContext } from '../sdk/mqtt/commands';
import { describeWithMosquitto, startMosquitto, type MosquittoBroker } from './support/mosquitto';

const fast = { backoff: { initialMs: 50, maxMs: 300 }, connectTimeoutMs: 3000 };
const SHARED = 'the-shared-secret-of-old-clients';
const KEYS = { alice: 'alice-key-0123456789abcdef', bob: 'bob-key-0123456789abcdef00', carol: 'carol-key-0123456789abcdef' };

describeWithMosquitto('command channel: per-client keys over mosquitto', () => {
  let broker: MosquittoBroker;
  let channel: CommandChannel;
  const refused: CommandRefusedError[] = [];
  const ran: CommandContext[] = [];
  const clients: CommandClient[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    const connection = { url: broker.url, username: broker.username, password: broker.password, ...fast };
    channel = await CommandChannel.create({
      ...connection,
      device: 'gate-1',
      secret: SHARED,
      allowedClients: ['legacy'],
      clientKeys: KEYS,
      revokedClients: ['carol'],
      handlers: { list: (_args, context) => (ran.push(context), { from: context.clientId }) },
    });
    channel.on('refused', (e) => refused.push(e));
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await channel?.close();
    await broker?.close();
  });

  /** A client signing as `clientId` with `key` (not necessarily its own). */
  async function client(clientId: string, key: string): Promise<CommandClient> {
    const c = await CommandClient.create({ url: broker.url, username: broker.username, password: broker.password, ...fast, clientId, key, timeoutMs: 5000 });
    clients.push(c);
    return c;
  }
  const refusal = async (c: CommandClient): Promise<RemoteCommandError> => (await c.send('gate-1', 'list', {}).catch((e: unknown) => e)) as RemoteCommandError;

  it('runs commands signed with each client own key, and answers signed with that key', async () => {
    expect(await (await client('alice', KEYS.alice)).send('gate-1', 'list', {})).toEqual({ from: 'alice' });
    expect(await (await client('bob', KEYS.bob)).send('gate-1', 'list', {})).toEqual({ from: 'bob' });
    expect(ran.map((c) => c.clientId)).toEqual(['alice', 'bob']);
  });

  it("refuses a command signed with one client's key that claims another client's id", async () => {
    ran.length = 0;
    refused.length = 0;
    const error = await refusal(await client('bob', KEYS.alice));
    expect(error).toBeInstanceOf(RemoteCommandError);
    expect(error.details).toMatchObject({ remoteCode: 'E_COMMAND_REFUSED', reason: 'hmac' });
    expect(error.message).toMatch(/signed with the key of client bob/);
    // The shared secret of allowedClients cannot sign for a client with a key of its own either.
    expect((await refusal(await client('alice', SHARED))).details).toMatchObject({ reason: 'hmac' });
    expect(refused.map((e) => e.reason)).toEqual<CommandRefusalReason[]>(['hmac', 'hmac']);
    expect(ran).toEqual([]);
  });

  it('refuses a revoked client whatever it signs with, while the others still work', async () => {
    refused.length = 0;
    const carol = await refusal(await client('carol', KEYS.carol));
    expect(carol.details).toMatchObject({ remoteCode: 'E_COMMAND_REFUSED', reason: 'revoked', verified: true });
    expect(carol.message).toMatch(/client carol is revoked/);
    expect((await refusal(await client('carol', SHARED))).details).toMatchObject({ reason: 'revoked' });
    expect(refused.every((e) => e instanceof CommandRefusedError && e.code === 'E_COMMAND_REFUSED' && e.reason === 'revoked')).toBe(true);
    expect(await (await client('alice', KEYS.alice)).send('gate-1', 'list', {})).toEqual({ from: 'alice' });
    expect(channel.stats().refusedBy).toMatchObject({ revoked: 2 });
  });

  it('still takes the shared secret from the clients of allowedClients, and refuses unknown clients', async () => {
    expect(await (await client('legacy', SHARED)).send('gate-1', 'list', {})).toEqual({ from: 'legacy' });
    expect((await refusal(await client('legacy', KEYS.alice))).details).toMatchObject({ reason: 'hmac' });
    const stranger = await refusal(await client('mallory', 'mallory-key-0123456789abcd'));
    expect(stranger.details).toMatchObject({ reason: 'client' });
    expect(stranger.message).toMatch(/holds no key for it/);
  });

  it('checks the keys when the channel is created', async () => {
    const base = { url: broker.url, device: 'x', handlers: {}, waitForConnectionMs: 0 };
    await expect(CommandChannel.create({ ...base, clientKeys: { a: 'short' } })).rejects.toThrow(/clientKeys\.a/);
    await expect(CommandChannel.create({ ...base, allowedClients: ['a'] })).rejects.toThrow(/secret/);
    await expect(CommandChannel.create({ ...base, secret: SHARED, allowedClients: ['a'], clientKeys: { a: KEYS.alice } })).rejects.toThrow(/a has one: the shared secret must not sign for it/);
    await expect(CommandChannel.create({ ...base })).rejects.toThrow(/at least one client/);
    expect(commandHmac({ id: '1' }, KEYS.alice)).not.toBe(commandHmac({ id: '1' }, KEYS.bob));
  });
});
