/** People: list (with who needs re-enrollment), add from uploaded photos, rename, delete. */
import type { FastifyInstance } from 'fastify';
import type { EnrollmentImage } from '../../gallery/enroll';
import type { ConsoleContext } from '../server';
import { HttpError } from '../security';

/** Printable text without control characters. */
const TEXT = '^[^\\u0000-\\u001f\\u007f]+$';
const PERSON_ID = { type: 'string', minLength: 1, maxLength: 200, pattern: TEXT } as const;
const NAME = { type: 'string', minLength: 1, maxLength: 200, pattern: TEXT } as const;

/** The body naming a person to enroll: `{ personId, name }`. */
export const PERSON_BODY = { type: 'object', additionalProperties: false, required: ['personId', 'name'], properties: { personId: PERSON_ID, name: NAME } } as const;
const PERSON_PARAMS = { type: 'object', required: ['personId'], properties: { personId: PERSON_ID } } as const;
const CONTROL = new RegExp(TEXT);

export function registerPeopleRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  app.get('/api/people', async () => ({ people: await ctx.backend.listPeople() }));

  /** multipart/form-data: `personId`, `name`, then 1..maxUploadFiles `photo` files; every part is read (and bounded) before anything is enrolled. */
  app.post('/api/people', async (request) => {
    if (!request.isMultipart()) throw new HttpError(415, 'E_INVALID_ARGUMENT', 'expected multipart/form-data with personId, name and photo files');
    const fields: Record<string, string> = {};
    const images: EnrollmentImage[] = [];
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer(); // throws 413 past maxUploadBytes
        images.push({ source: `upload:${(part.filename || `photo-${images.length + 1}`).slice(0, 100)}`, input: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) });
      } else fields[part.fieldname] = String(part.value);
    }
    const personId = fields['personId'] ?? '';
    const name = fields['name'] ?? '';
    for (const [field, value] of [['personId', personId], ['name', name]] as const) {
      if (value.length === 0 || value.length > 200 || !CONTROL.test(value)) throw new HttpError(400, 'E_INVALID_ARGUMENT', `${field}: expected 1 to 200 printable characters, found ${JSON.stringify(value.slice(0, 40))}`);
    }
    if (images.length === 0) throw new HttpError(400, 'E_INVALID_ARGUMENT', 'photo: expected at least one photo file');
    const result = await ctx.backend.enroll({ personId, name }, images);
    ctx.audit(request, 'enroll', { personId, from: 'upload', enrolled: result.enrolled, refused: result.refused });
    return result;
  });

  app.post<{ Params: { personId: string }; Body: { name: string } }>(
    '/api/people/:personId/rename',
    { schema: { params: PERSON_PARAMS, body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: NAME } } } },
    async (request) => {
      const person = await ctx.backend.rename(request.params.personId, request.body.name);
      if (!person) throw new HttpError(404, 'E_PERSON_NOT_FOUND', `no person ${JSON.stringify(request.params.personId)}`);
      ctx.audit(request, 'rename', { personId: person.personId, name: person.name });
      return { person };
    },
  );

  app.delete<{ Params: { personId: string } }>('/api/people/:personId', { schema: { params: PERSON_PARAMS } }, async (request) => {
    const { personId } = request.params;
    const deleted = await ctx.backend.remove(personId);
    if (!deleted) throw new HttpError(404, 'E_PERSON_NOT_FOUND', `no person ${JSON.stringify(personId)}`);
    ctx.audit(request, 'delete', { personId });
    return { personId, deleted };
  });
}
