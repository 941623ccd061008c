// Which upstream hosts the service may call: never link-local or cloud-metadata addresses, and only listed hosts when a
// list is set.
import dns from 'node:dns';
import net from 'node:net';

/** The error a refused host gives, as a network error code the services map. */
export const BLOCKED_HOST = 'UPSTREAM_HOST_BLOCKED';

export class BlockedHostError extends Error {
  readonly code = BLOCKED_HOST;
  constructor(
    readonly host: string,
    readonly why: string,
  ) {
    super(`the host [${host}] ${why}`);
  }
}

/**
 * 169.254.0.0/16, fe80::/10, fd00:ec2::254 (AWS's IPv6 metadata address), and every IPv6 form that
 * carries an IPv4 address of the first range: IPv4-mapped (`::ffff:169.254.1.2`, which the URL
 * parser rewrites to `::ffff:a9fe:102`), IPv4-compatible (`::169.254.1.2`) and NAT64 (`64:ff9b::/96`).
 */
export function isLinkLocalOrMetadata(address: string): boolean {
  const ip = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (net.isIPv4(ip)) return ip.startsWith('169.254.');
  if (!net.isIPv6(ip)) return false;
  const groups = expandIPv6(ip);
  if (/^fe[89ab][0-9a-f]$/.test(groups[0]!)) return true;
  if (groups.join(':') === 'fd00:0ec2:0000:0000:0000:0000:0000:0254') return true;
  const head = groups.slice(0, 6).join(':');
  const carriesIPv4 =
    head === '0000:0000:0000:0000:0000:ffff' ||
    head === '0000:0000:0000:0000:0000:0000' ||
    head === '0064:ff9b:0000:0000:0000:0000';
  return carriesIPv4 && groups[6]!.startsWith('a9fe');
}

/** An IPv6 address as its eight groups of four hex digits (a dotted IPv4 tail becomes two groups). */
function expandIPv6(ip: string): string[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  const hex = dotted
    ? ip.slice(0, dotted.index) +
      [Number(dotted[1]) * 256 + Number(dotted[2]), Number(dotted[3]) * 256 + Number(dotted[4])]
        .map((n) => n.toString(16))
        .join(':')
    : ip;
  const [head = '', tail = ''] = hex.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = hex.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => g.padStart(4, '0'));
}

/** Resolves a host name to all its addresses (dns.lookup with all: true, by default). */
export type Resolver = (hostname: string, family: number) => Promise<dns.LookupAddress[]>;

const systemResolver: Resolver = (hostname, family) => dns.promises.lookup(hostname, { all: true, family });

export class UpstreamGuard {
  constructor(
    /** Lower-case host names; `*.example.com` allows subdomains. Empty: every host not blocked. */
    private readonly allowedHosts: readonly string[],
    private readonly resolve: Resolver = systemResolver,
  ) {}

  private allowed(host: string): boolean {
    if (this.allowedHosts.length === 0) return true;
    const h = host.toLowerCase().replace(/^\[|\]$/g, '');
    return this.allowedHosts.some((pattern) =>
      pattern.startsWith('*.') ? h.endsWith(pattern.slice(1)) : h === pattern,
    );
  }

  /** URLs already checked by checkHost (the answer cannot change while the process runs). */
  private readonly checked = new Map<string, BlockedHostError | null>();

  /** Checks a URL's host by name (the allow-list) and, for literal addresses, by address. */
  checkHost(url: string): void {
    let verdict = this.checked.get(url);
    if (verdict === undefined) {
      const host = new URL(url).hostname;
      verdict = !this.allowed(host)
        ? new BlockedHostError(host, 'is not in UPSTREAM_ALLOWED_HOSTS')
        : isLinkLocalOrMetadata(host)
          ? new BlockedHostError(host, 'is a link-local or cloud metadata address')
          : null;
      if (this.checked.size >= 10_000) this.checked.clear();
      this.checked.set(url, verdict);
    }
    if (verdict) throw verdict;
  }

  /** checkHost, then resolves the name and checks every address it has (at PUT). */
  async checkResolved(url: string): Promise<void> {
    this.checkHost(url);
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host)) return;
    let addresses: dns.LookupAddress[];
    try {
      addresses = await this.resolve(host, 0);
    } catch {
      return; // an unknown host fails later with its own, clearer error
    }
    if (addresses.some((a) => isLinkLocalOrMetadata(a.address))) {
      throw new BlockedHostError(host, 'resolves to a link-local or cloud metadata address');
    }
  }

  /**
   * A `lookup` for outbound connections: the address actually connected to is checked, so a
   * name that later resolves elsewhere (DNS rebinding) is still refused.
   */
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    const reply = callback;
    this.resolve(hostname, options.family === 6 ? 6 : options.family === 4 ? 4 : 0).then(
      (list) => {
        if (list.length === 0) {
          reply(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
        } else if (list.some((a) => isLinkLocalOrMetadata(a.address))) {
          reply(new BlockedHostError(hostname, 'resolves to a link-local or cloud metadata address'), '', 4);
        } else if (options.all) {
          reply(null, list);
        } else {
          reply(null, list[0]!.address, list[0]!.family);
        }
      },
      (err: Error) => reply(err, '', 4),
    );
  };
}
