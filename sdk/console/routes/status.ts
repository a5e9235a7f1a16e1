/** The status page: doctor checks, key figures, versions, the bundle. */
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../server';

export function registerStatusRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/api/status', async () => ctx.backend.status());
}
