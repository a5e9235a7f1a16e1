/** The single page (`/`) and its built assets (`/assets/*`), served from the assets folder. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../server';

export async function registerPageRoutes(app: FastifyInstance, ctx: ConsoleContext): Promise<void> {
  const index = await readFile(join(ctx.assetsDir, 'index.html'), 'utf8');
  // @fastify/static resolves inside `root` only: `..` and encoded variants are refused.
  await app.register(fastifyStatic, { root: ctx.assetsDir, prefix: '/assets/', index: false, dotfiles: 'deny', cacheControl: false, wildcard: true });
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(index));
}
