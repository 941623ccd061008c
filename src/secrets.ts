// Encryption at rest for api keys: AES-256-GCM, the key from SECRETS_KEY or `$DATA_DIR/secret.key`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config.js';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A known plaintext kept encrypted in the store, so a wrong key is caught at start-up, not at first use. */
const CHECK_PLAINTEXT = 'hf-inference-gateway secrets key check';
const CHECK_CONTEXT = 'key-check';

export const KEY_CHECK_META = 'secrets_key_check';

export class SecretBox {
  private constructor(
    private readonly key: Buffer,
    /** Where the key came from, for error messages: never the key itself. */
    readonly source: string,
  ) {}

  /**
   * Encrypts `plaintext`, binding it to `context` (the inference id): a ciphertext copied to
   * another row does not decrypt there.
   */
  encrypt(plaintext: string, context: string): string {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64')}`;
  }

  /** Throws when the ciphertext was not made with this key and context. */
  decrypt(sealed: string, context: string): string {
    const [version, data] = sealed.split('.', 2);
    if (version !== VERSION || data === undefined) throw new Error(`unknown secret format [${version}]`);
    const raw = Buffer.from(data, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('secret is truncated');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString(
      'utf8',
    );
  }

  sealKeyCheck(): string {
    return this.encrypt(CHECK_PLAINTEXT, CHECK_CONTEXT);
  }

  /** Throws a ConfigError naming the cause when `sealed` was made with another key. */
  verifyKeyCheck(sealed: string, databasePath: string): void {
    let ok: boolean;
    try {
      ok = this.decrypt(sealed, CHECK_CONTEXT) === CHECK_PLAINTEXT;
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new ConfigError(
        `the secrets key from ${this.source} is not the key the database ${databasePath} was written with, ` +
          'so its stored api keys cannot be decrypted; start with the original key',
      );
    }
  }

  /**
   * The key from SECRETS_KEY, else from `$DATA_DIR/secret.key`, which is created (mode 0600) only
   * when the store holds no encrypted data yet: a lost key file must not be silently replaced.
   */
  static open(opts: {
    configuredKey: Buffer | undefined;
    dataDir: string;
    storeHasSecrets: boolean;
    databasePath: string;
  }): SecretBox {
    if (opts.configuredKey) return new SecretBox(opts.configuredKey, 'SECRETS_KEY');
    const file = path.join(opts.dataDir, 'secret.key');
    const source = file;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ConfigError(`cannot read the secrets key file ${file}: ${(err as Error).message}`);
      }
      if (opts.storeHasSecrets) {
        throw new ConfigError(
          `the database ${opts.databasePath} holds encrypted api keys but the key file ${file} is missing; ` +
            'restore it or set SECRETS_KEY to the original key',
        );
      }
      text = createKeyFile(file);
    }
    const key = Buffer.from(text.trim(), 'base64');
    if (key.length !== 32) throw new ConfigError(`the secrets key file ${file} does not hold a 32-byte base64 key`);
    return new SecretBox(key, source);
  }
}

function createKeyFile(file: string): string {
  const text = crypto.randomBytes(32).toString('base64') + '\n';
  try {
    // 'wx' fails if another process created it first; then that process's key is the one to use.
    fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8');
    throw new ConfigError(`cannot create the secrets key file ${file}: ${(err as Error).message}`);
  }
}
