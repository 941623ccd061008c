// API keys: created with a secret shown once, stored as a salted scrypt hash, checked in constant time.
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type { ApiKeyRecord, ApiKeyStore } from '../store/types.js';

export const PRIVILEGES = ['manage_inference', 'monitor_inference'] as const;
export type Privilege = (typeof PRIVILEGES)[number];

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const KEY_LENGTH = 32;

/** What a client sends: `id:secret`, base64-encoded (the official client's `auth.apiKey`). */
export const encodeCredentials = (id: string, secret: string) => Buffer.from(`${id}:${secret}`).toString('base64');

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

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest();

export class ApiKeys {
  /** id → sha256 of the secret last verified by scrypt, so each request does not pay scrypt again. */
  private readonly verified = new Map<string, Buffer>();

  constructor(private readonly store: ApiKeyStore) {}

  async create(name: string, privilege: Privilege): Promise<CreatedKey> {
    const id = crypto.randomBytes(15).toString('base64url');
    const secret = crypto.randomBytes(24).toString('base64url');
    const salt = crypto.randomBytes(16);
    const hash = await scrypt(secret, salt, KEY_LENGTH);
    this.store.insert({ id, name, privilege, salt: salt.toString('base64'), hash: hash.toString('base64'), createdAt: Date.now(), revokedAt: null });
    this.activeKnown = undefined;
    return { id, name, privilege, api_key: secret, encoded: encodeCredentials(id, secret) };
  }

  list(): Array<Omit<ApiKeyRecord, 'salt' | 'hash'>> {
    return this.store.list().map(({ id, name, privilege, createdAt, revokedAt }) => ({ id, name, privilege, createdAt, revokedAt }));
  }

  revoke(idOrName: string): boolean {
    this.activeKnown = undefined;
    return this.store.revoke(idOrName, Date.now());
  }

  private activeKnown: { value: boolean; until: number } | undefined;

  /**
   * Whether any key is active, re-read at most once a second: this is asked on every request,
   * and only decides whether a loopback service without keys runs open. Whether a presented
   * key is revoked is read on every request (verify).
   */
  hasActive(): boolean {
    const now = Date.now();
    if (!this.activeKnown || now >= this.activeKnown.until) this.activeKnown = { value: this.store.hasActive(), until: now + 1000 };
    return this.activeKnown.value;
  }

  /** The key these credentials name, if it exists, is not revoked and the secret matches. */
  async verify(id: string, secret: string): Promise<AuthenticatedKey | undefined> {
    const record = this.store.get(id);
    if (!record || record.revokedAt !== null) return undefined;
    const key = { id: record.id, name: record.name, privilege: record.privilege as Privilege };
    const digest = sha256(secret);
    const known = this.verified.get(id);
    if (known) return crypto.timingSafeEqual(known, digest) ? key : undefined;
    const actual = await scrypt(secret, Buffer.from(record.salt, 'base64'), KEY_LENGTH);
    if (!crypto.timingSafeEqual(actual, Buffer.from(record.hash, 'base64'))) return undefined;
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(id, digest);
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
