// Network fixtures that never leave this machine: a resolver that knows no name, and a port that refuses connections.
import net from 'node:net';
import type { Resolver } from '../../src/services/upstream/upstream-guard.js';

/**
 * The resolver every in-process test app gets unless it brings its own: `localhost` is
 * 127.0.0.1 and every other name is unknown, so a fixture such as `https://x.hf.test` is
 * never looked up on a real DNS server.
 */
export const offlineResolver: Resolver = async (hostname) => {
  if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
};

/**
 * A loopback port nothing listens on: opened, then closed again. Connecting to it is refused
 * (unlike port 9 or 1, which a machine may well have open).
 */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
