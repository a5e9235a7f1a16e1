/** The events page: the recent events, and a Server-Sent Events stream of new ones. */
import type { FastifyInstance } from 'fastify';
import type { JetfaceEvent } from '../../events/types';
import type { EventFilter } from '../event-hub';
import { matchesFilter } from '../event-hub';
import type { ConsoleContext } from '../server';

const FILTER = {
  type: 'object',
  additionalProperties: false,
  properties: {
    camera: { type: 'string', maxLength: 64 },
    person: { type: 'string', maxLength: 128 },
    device: { type: 'string', maxLength: 64 },
    limit: { type: 'integer', minimum: 1, maximum: 200 },
  },
} as const;

type Query = EventFilter & { limit?: number };

const clean = (q: Query): EventFilter => ({ ...(q.camera ? { camera: q.camera } : {}), ...(q.person ? { person: q.person } : {}), ...(q.device ? { device: q.device } : {}) });

export function registerEventRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  const streams = new Set<() => void>();
  app.addHook('onClose', async () => {
    for (const end of [...streams]) end();
  });

  app.get<{ Querystring: Query }>('/api/events', { schema: { querystring: FILTER } }, async (request) => ({ events: ctx.backend.events.recent(clean(request.query), request.query.limit ?? 100) }));

  app.get<{ Querystring: Query }>('/api/events/stream', { schema: { querystring: FILTER } }, (request, reply) => {
    const filter = clean(request.query);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'",
    });
    res.write('retry: 2000\n\n');
    const send = (e: JetfaceEvent): void => {
      if (matchesFilter(e, filter)) res.write(`id: ${e.id}\nevent: jetface\ndata: ${JSON.stringify(e)}\n\n`);
    };
    const unsubscribe = ctx.backend.events.subscribe(send);
    // A comment every 15 s keeps proxies from closing an idle stream.
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    const end = (): void => {
      clearInterval(ping);
      unsubscribe();
      streams.delete(end);
      res.end();
    };
    streams.add(end);
    request.raw.on('close', end);
  });
}
