/** The live view: cameras, and each camera's latest frame as a JPEG with its faces in a header. */
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../server';
import { HttpError } from '../security';

const CAMERA_PARAMS = { type: 'object', required: ['camera'], properties: { camera: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$' } } } as const;

export function registerLiveRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/api/cameras', async () => ({ device: ctx.backend.device, fleet: ctx.backend.fleet === true, cameras: ctx.backend.cameras() }));

  /**
   * The newest frame (204 until one arrives): asking marks the camera watched, which is what makes
   * the device keep and encode its frames; `x-frame-meta` carries the frame's faces (base64url JSON).
   */
  app.get<{ Params: { camera: string } }>('/api/live/:camera/frame', { schema: { params: CAMERA_PARAMS } }, async (request, reply) => {
    const { camera } = request.params;
    if (!ctx.backend.cameras().some((c) => c.id === camera)) throw new HttpError(404, 'E_NOT_FOUND', `no camera ${JSON.stringify(camera)}`);
    const current = await ctx.backend.live.current(camera);
    if (!current) return reply.code(204).send();
    return reply.type('image/jpeg').header('x-frame-meta', Buffer.from(JSON.stringify(current.meta)).toString('base64url')).send(current.jpeg);
  });
}
