// docker-compose.yml read as data (no Docker engine here): the default set-up unchanged, and the "cluster" profile
// wired as docs/scale-out.md says.
import fs from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';

const root = new URL('../../../', import.meta.url);
const compose = parse(fs.readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<string, any>;
  volumes: Record<string, unknown>;
};
const { services } = compose;

t.test('the default `docker compose up` runs the single service and TEI, as before', async (t) => {
  const defaults = Object.keys(services).filter((name) => !services[name].profiles);
  t.strictSame(defaults.sort(), ['inference', 'tei']);
  t.equal(services.inference.environment.DATABASE_URL, undefined, 'embedded SQLite');
  t.strictSame(services.inference.ports, ['127.0.0.1:9200:9200']);
});

t.test('the cluster profile: three replicas behind nginx, PostgreSQL and Redis with health checks', async (t) => {
  const cluster = Object.keys(services).filter((name) => services[name].profiles?.includes('cluster'));
  t.strictSame(cluster.sort(), ['balancer', 'gateway', 'postgres', 'redis']);

  const gateway = services.gateway;
  t.equal(gateway.deploy.replicas, 3);
  t.equal(
    gateway.environment.CLUSTER_SIZE,
    String(gateway.deploy.replicas),
    'the fallback share matches the replica count',
  );
  const db = services.postgres.environment;
  t.equal(
    gateway.environment.DATABASE_URL,
    `postgres://${db.POSTGRES_USER}:${db.POSTGRES_PASSWORD}@postgres:5432/${db.POSTGRES_DB}`,
  );
  t.equal(gateway.environment.REDIS_URL, 'redis://redis:6379');
  t.equal(gateway.environment.SECRETS_KEY, '${SECRETS_KEY:-}', 'one key for every replica, from the environment');
  t.equal(gateway.environment.HOST, '0.0.0.0');
  t.notOk(gateway.ports, 'replicas are reached through the balancer only');
  t.strictSame(gateway.depends_on, {
    postgres: { condition: 'service_healthy' },
    redis: { condition: 'service_healthy' },
  });

  for (const name of ['postgres', 'redis', 'balancer'])
    t.ok(services[name].healthcheck?.test, `${name} has a health check`);
  t.strictSame(services.balancer.depends_on, { gateway: { condition: 'service_healthy' } });
  t.strictSame(services.balancer.ports, ['127.0.0.1:9201:9200']);
  t.ok(services.postgres.volumes.includes('postgres-data:/var/lib/postgresql/data'));
  t.ok('postgres-data' in compose.volumes && 'redis-data' in compose.volumes);
  t.strictSame(services.redis.command, ['redis-server', '--save', '', '--appendonly', 'no']);

  const [source, target] = String(services.balancer.volumes[0]).split(':');
  t.equal(target, '/etc/nginx/conf.d/default.conf');
  const nginx = fs.readFileSync(new URL(source!.replace(/^\.\//, ''), root), 'utf8');
  t.match(nginx, /upstream gateway \{\s*server gateway:9200\b/);
  t.match(nginx, /listen 9200;/);
  t.match(nginx, /proxy_pass http:\/\/gateway;/);
  t.match(nginx, /proxy_buffering off;/, 'streams are not held back');
});
