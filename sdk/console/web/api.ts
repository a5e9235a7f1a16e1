/** The page's calls to its device: same origin, session cookie, CSRF token on every change. */
let csrf = '';
let fleetView = false;

/** The fleet console (many devices, no live frames), as the session said. */
export function isFleet(): boolean {
  return fleetView;
}

/** An error answer: `{ error: { code, message } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function check(res: Response): Promise<Response> {
  if (res.status === 401) {
    location.href = '/login';
    throw new ApiError(401, 'E_UNAUTHENTICATED', 'log in first');
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
    throw new ApiError(res.status, body?.error?.code ?? 'E_HTTP', body?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return res;
}

export async function get<T>(url: string): Promise<T> {
  return (await (await check(await fetch(url, { credentials: 'same-origin' }))).json()) as T;
}

/** POST/DELETE with the CSRF token; a plain object goes as JSON, FormData as multipart. */
export async function send<T>(method: 'POST' | 'DELETE', url: string, body?: object | FormData): Promise<T> {
  const headers: Record<string, string> = { 'x-csrf-token': csrf };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  return (await (await check(await fetch(url, { method, headers, credentials: 'same-origin', ...(payload !== undefined ? { body: payload } : {}) }))).json()) as T;
}

/** Loads the session (and its CSRF token). */
export async function loadSession(): Promise<{ device: string; csrfToken: string; fleet: boolean }> {
  const s = await get<{ device: string; csrfToken: string; fleet: boolean }>('/api/session');
  csrf = s.csrfToken;
  fleetView = s.fleet === true;
  return s;
}

export function errorText(error: unknown): string {
  return error instanceof ApiError ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);
}
