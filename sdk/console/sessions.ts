/**
 * Console sessions and one-time login tokens, in memory: a restart logs everyone out, and nothing
 * about a session is ever written to disk. Ids are 256 random bits.
 */
import { createHash, randomBytes } from 'node:crypto';

/** A logged-in browser. */
export interface Session {
  /** The cookie's value. */
  readonly id: string;
  /** A short, non-secret name of the session for audit lines. */
  readonly tag: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** How it logged in. */
  readonly via: 'password' | 'token';
}

const token = (): string => randomBytes(32).toString('base64url');

/** Sessions with a fixed lifetime and one-time tokens that each open one session. */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxSessions = 100,
  ) {}

  /** Opens a session (the oldest goes when `maxSessions` are open). */
  create(via: Session['via'], now = Date.now()): Session {
    this.prune(now);
    if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    const id = token();
    const session: Session = { id, tag: createHash('sha256').update(id).digest('hex').slice(0, 8), createdAt: now, expiresAt: now + this.ttlMs, via };
    this.sessions.set(id, session);
    return session;
  }

  /** The live session of a cookie value, or null. */
  get(id: string | undefined, now = Date.now()): Session | null {
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    if (s.expiresAt <= now) {
      this.sessions.delete(id);
      return null;
    }
    return s;
  }

  end(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /** A token that opens one session within `ttlMs` (the demo prints it in its URL). */
  issueToken(ttlMs = 10 * 60_000, now = Date.now()): string {
    const t = token();
    this.tokens.set(t, now + ttlMs);
    return t;
  }

  /** Uses up a token: true once, for a token issued and not expired. */
  consumeToken(t: string | undefined, now = Date.now()): boolean {
    if (!t) return false;
    const expires = this.tokens.get(t);
    this.tokens.delete(t);
    return expires !== undefined && expires > now;
  }

  get size(): number {
    return this.sessions.size;
  }

  private prune(now: number): void {
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
    for (const [t, e] of this.tokens) if (e <= now) this.tokens.delete(t);
  }
}
