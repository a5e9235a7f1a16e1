/** Unknown faces: the strangers, their crops, "enroll as…" (new or existing person) and "dismiss". */
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../server';
import { HttpError } from '../security';
import { PERSON_BODY } from './people';

const ID = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{12}$' } } } as const;
const CROP = { type: 'object', required: ['id', 'index'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{12}$' }, index: { type: 'integer', minimum: 0, maximum: 99 } } } as const;

export function registerUnknownRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  const unknown = ctx.backend.unknown;
  const cluster = (id: string) => {
    const c = unknown.get(id);
    if (!c) throw new HttpError(404, 'E_NOT_FOUND', `no unknown face ${id} (enrolled or dismissed already?)`);
    return c;
  };

  app.get('/api/unknown', async () => ({
    unknown: unknown.list().map((c) => ({ id: c.id, cameras: c.cameras, tracks: c.trackIds.length, firstSeen: new Date(c.firstSeen).toISOString(), lastSeen: new Date(c.lastSeen).toISOString(), crops: c.crops.length })),
  }));

  app.get<{ Params: { id: string; index: number } }>('/api/unknown/:id/crops/:index', { schema: { params: CROP } }, async (request, reply) => {
    const jpeg = unknown.cropJpeg(request.params.id, request.params.index);
    if (!jpeg) throw new HttpError(404, 'E_NOT_FOUND', `no crop ${request.params.index} of unknown face ${request.params.id}`);
    return reply.type('image/jpeg').send(await jpeg);
  });

  app.post<{ Params: { id: string }; Body: { personId: string; name: string } }>('/api/unknown/:id/enroll', { schema: { params: ID, body: PERSON_BODY } }, async (request) => {
    const person = { personId: request.body.personId, name: request.body.name };
    const result = await ctx.backend.enrollUnknown(request.params.id, person);
    if (!result) throw new HttpError(404, 'E_NOT_FOUND', `no unknown face ${request.params.id} (enrolled or dismissed already?)`);
    ctx.audit(request, 'enroll', { personId: person.personId, from: `unknown/${request.params.id}`, enrolled: result.enrolled, refused: result.refused });
    return result;
  });

  app.post<{ Params: { id: string } }>('/api/unknown/:id/dismiss', { schema: { params: ID } }, async (request) => {
    cluster(request.params.id);
    unknown.remove(request.params.id);
    ctx.audit(request, 'dismiss', { unknown: request.params.id });
    return { dismissed: request.params.id };
  });
}
