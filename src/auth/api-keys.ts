// API keys: created with a secret shown once, stored as a salted scrypt hash, checked in constant time.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { EsError } from '../errors.js';
import type { ApiKeyRecord, ApiKeyStore } from '../store/endpoint-store.js';

export const PRIVILEGES = ['manage_inference', 'monitor_inference'] as const;
export type Privilege = (typeof PRIVILEGES)[number];

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const KEY_LENGTH = 32;

/** What a client sends: `id:secret`, base64-encoded (the official client's `auth.apiKey`). */
const encodeCredentials = (id: string, secret: string) => Buffer.from(`${id}:${secret}`).toString('base64');

export interface CreatedKey {
  id: string;
  name: string;
  privilege: Privilege;
  /** The secret, shown once: only its hash is stored. */
  api_key: string;
  encoded: string;
}

export interface AuthenticatedKey {
  id: string;
  name: string;
  privilege: Privilege;
}

/** How long "is there any active key?" is trusted before it is read again: a first new key is enforced within this. */
const ACTIVE_KEYS_RECHECK_MS = 1000;

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest();
/** The store cannot be reached now (a 503), as opposed to any other failure. */
const unavailable = (err: unknown) => err instanceof EsError && err.status === 503;

export class ApiKeys {
  /**
   * id → sha256 of the secret last verified by scrypt (so each request does not pay scrypt again), and the key as then
   * read.
   */
  private readonly verified = new Map<string, { digest: Buffer; key: AuthenticatedKey }>();

  constructor(private readonly store: ApiKeyStore) {}

  async create(name: string, privilege: Privilege): Promise<CreatedKey> {
    const id = crypto.randomBytes(15).toString('base64url');
    const secret = crypto.randomBytes(24).toString('base64url');
    const salt = crypto.randomBytes(16);
    const hash = await scrypt(secret, salt, KEY_LENGTH);
    await this.store.insert({
      id,
      name,
      privilege,
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      createdAt: Date.now(),
      revokedAt: null,
    });
    this.activeKnown = undefined;
    return { id, name, privilege, api_key: secret, encoded: encodeCredentials(id, secret) };
  }

  async list(): Promise<Array<Omit<ApiKeyRecord, 'salt' | 'hash'>>> {
    return (await this.store.list()).map(({ id, name, privilege, createdAt, revokedAt }) => ({
      id,
      name,
      privilege,
      createdAt,
      revokedAt,
    }));
  }

  async revoke(idOrName: string): Promise<boolean> {
    this.activeKnown = undefined;
    return this.store.revoke(idOrName, Date.now());
  }

  private activeKnown: { value: boolean; until: number } | undefined;
  private activeRead: Promise<boolean> | undefined;

  /** Drops what is cached about keys: another process created or revoked one. */
  forget(): void {
    this.activeKnown = undefined;
    this.verified.clear();
  }

  /**
   * Whether any key is active, as read less than a second ago; undefined when it must be read
   * again (hasActive). This is asked on every request and only decides whether a loopback
   * service without keys runs open; whether a presented key is revoked is read on every
   * request (verify).
   */
  hasActiveCached(): boolean | undefined {
    const known = this.activeKnown;
    return known && Date.now() < known.until ? known.value : undefined;
  }

  /** Whether any key is active, read from the store; concurrent callers share one read. */
  hasActive(): Promise<boolean> {
    return (this.activeRead ??= this.readActive().finally(() => {
      this.activeRead = undefined;
    }));
  }

  private async readActive(): Promise<boolean> {
    let value: boolean;
    try {
      value = await this.store.hasActive();
    } catch (err) {
      // The shared store is away: the last answer stands (nothing can be created or revoked meanwhile).
      if (unavailable(err) && this.activeKnown) return this.activeKnown.value;
      throw err;
    }
    this.activeKnown = { value, until: Date.now() + ACTIVE_KEYS_RECHECK_MS };
    return value;
  }

  /** The key these credentials name, if it exists, is not revoked and the secret matches. */
  async verify(id: string, secret: string): Promise<AuthenticatedKey | undefined> {
    const digest = sha256(secret);
    let record: ApiKeyRecord | undefined;
    try {
      record = await this.store.get(id);
    } catch (err) {
      // The shared store is away: a key verified before, and not revoked since (a revocation
      // announced by another instance empties this cache), is still accepted.
      const known = this.verified.get(id);
      if (unavailable(err) && known) return crypto.timingSafeEqual(known.digest, digest) ? known.key : undefined;
      throw err;
    }
    if (!record || record.revokedAt !== null) {
      this.verified.delete(id);
      return undefined;
    }
    const key = { id: record.id, name: record.name, privilege: record.privilege as Privilege };
    const known = this.verified.get(id);
    if (known) return crypto.timingSafeEqual(known.digest, digest) ? key : undefined;
    const actual = await scrypt(secret, Buffer.from(record.salt, 'base64'), KEY_LENGTH);
    if (!crypto.timingSafeEqual(actual, Buffer.from(record.hash, 'base64'))) return undefined;
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(id, { digest, key });
    return key;
  }
}

/** `ApiKey <base64 id:secret>` or `Bearer <base64 id:secret>` (or `Bearer id:secret`) → id and secret. */
export function parseAuthorization(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^(ApiKey|Bearer)\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const token = m[2]!;
  const decoded = /^[A-Za-z0-9+/=_-]+$/.test(token) ? Buffer.from(token, 'base64').toString('utf8') : '';
  const pair = decoded.includes(':') ? decoded : token;
  const colon = pair.indexOf(':');
  if (colon <= 0 || colon === pair.length - 1) return undefined;
  return { id: pair.slice(0, colon), secret: pair.slice(colon + 1) };
}
