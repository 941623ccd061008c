// `npm run keys -- create|list|revoke`: API keys for the service, in the same store as the endpoints (SQLite in
// DATA_DIR, or DATABASE_URL).
import { parseArgs } from 'node:util';
import { ApiKeys, PRIVILEGES, type Privilege } from '../auth/api-keys.js';
import { ConfigError, loadConfig } from '../config.js';
import { connectStore } from '../store/open-store.js';

const USAGE = `usage:
  npm run keys -- create --name NAME --privilege manage_inference|monitor_inference [--json] [--force]
  npm run keys -- list [--json]
  npm run keys -- revoke --id ID | --name NAME [--force]`;

/**
 * Why a change would leave active keys with none that has manage_inference: once any key
 * exists the service requires one, and then nothing could create, update or delete endpoints.
 */
const LOCKOUT =
  'no active key would have manage_inference: once a key exists the service asks every request for one, ' +
  'and with only monitor_inference keys nothing can create, update or delete endpoints. ' +
  'Create a manage_inference key first, or pass --force to do it anyway';

class UsageError extends Error {}

const OPTIONS = {
  name: { type: 'string' },
  privilege: { type: 'string' },
  id: { type: 'string' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
} as const;

/** The options that take a value, and every option as written (`--json`). */
const VALUE_OPTIONS = new Set(
  Object.entries(OPTIONS)
    .filter(([, o]) => o.type === 'string')
    .map(([name]) => `--${name}`),
);
const ALL_OPTIONS = new Set(Object.keys(OPTIONS).map((name) => `--${name}`));

/**
 * `--id VALUE` read as `--id=VALUE` when VALUE begins with a dash: a key's id is base64url and begins with one a time
 * in 64, which parseArgs would take for an option ("argument is ambiguous"). A value that is another of the options
 * (`--name --json`) is left for parseArgs to refuse, and nothing after `--` is touched.
 */
function withJoinedValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (
      VALUE_OPTIONS.has(arg) &&
      next !== undefined &&
      next.startsWith('-') &&
      next !== '--' &&
      !ALL_OPTIONS.has(next.split('=')[0]!)
    ) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: withJoinedValues(argv),
    allowPositionals: true,
    options: OPTIONS,
  });
  const command = positionals[0];
  const store = await connectStore(loadConfig());
  const keys = new ApiKeys(store.apiKeys);
  try {
    switch (command) {
      case 'create': {
        const name = values.name?.trim();
        if (!name) throw new UsageError('create needs --name');
        if (!PRIVILEGES.includes(values.privilege as Privilege))
          throw new UsageError(`--privilege must be one of ${PRIVILEGES.join(', ')}`);
        const existing = await keys.list();
        if (existing.some((k) => k.name === name)) throw new UsageError(`a key named [${name}] exists already`);
        const managers = existing.filter((k) => k.revokedAt === null && k.privilege === 'manage_inference');
        if (values.privilege !== 'manage_inference' && managers.length === 0 && !values.force)
          throw new UsageError(`refusing to create [${name}]: ${LOCKOUT}`);
        const key = await keys.create(name, values.privilege as Privilege);
        if (values.json) {
          process.stdout.write(JSON.stringify(key) + '\n');
        } else {
          process.stdout.write(
            `Created API key [${key.name}] with privilege [${key.privilege}]. The secret is shown only now.\n` +
              `  id:      ${key.id}\n  api_key: ${key.api_key}\n  encoded: ${key.encoded}\n` +
              `Send it as "Authorization: ApiKey ${key.encoded}", or give the Elasticsearch client auth: { apiKey: '${key.encoded}' }.\n`,
          );
        }
        break;
      }
      case 'list': {
        const list = await keys.list();
        if (values.json) {
          process.stdout.write(JSON.stringify(list) + '\n');
          break;
        }
        if (list.length === 0) process.stdout.write('no API keys\n');
        for (const k of list) {
          const state = k.revokedAt === null ? 'active' : `revoked ${new Date(k.revokedAt).toISOString()}`;
          process.stdout.write(
            `${k.id}  ${k.name}  ${k.privilege}  created ${new Date(k.createdAt).toISOString()}  ${state}\n`,
          );
        }
        break;
      }
      case 'revoke': {
        const which = values.id ?? values.name;
        if (!which) throw new UsageError('revoke needs --id or --name');
        const active = (await keys.list()).filter((k) => k.revokedAt === null);
        const remaining = active.filter((k) => k.id !== which && k.name !== which);
        const lastManager =
          remaining.length > 0 &&
          remaining.length < active.length &&
          !remaining.some((k) => k.privilege === 'manage_inference');
        if (lastManager && !values.force)
          throw new UsageError(
            `refusing to revoke [${which}]: ${LOCKOUT.replace('Create a manage_inference key first', 'Create another manage_inference key first')}`,
          );
        if (!(await keys.revoke(which))) throw new UsageError(`no active key with id or name [${which}]`);
        process.stdout.write(`revoked [${which}]\n`);
        break;
      }
      default:
        throw new UsageError(command ? `unknown command [${command}]` : 'no command given');
    }
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).catch((err) => {
  const known =
    err instanceof UsageError ||
    err instanceof ConfigError ||
    (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
  process.stderr.write(`keys: ${(err as Error).message}\n${known ? USAGE + '\n' : ''}`);
  process.exit(known ? 2 : 1);
});
