// Who may call what: API keys with Elasticsearch-like privileges, checked before any route runs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type ApiKeys, parseAuthorization, type AuthenticatedKey, type Privilege } from '../src/auth/api-keys.js';
import { EsError } from '../src/errors.js';
import { sendError } from './elasticsearch-http.js';

/** What a route needs: its Elasticsearch action name, and the least privilege that grants it. */
export interface RouteAccess {
  action: string;
  privilege: Privilege;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** Needs no credentials: the health check, the page's and the API document's static files. */
    public?: boolean;
  }
  interface FastifyRequest {
    apiKey?: AuthenticatedKey;
  }
}

const CHALLENGES = ['ApiKey', 'Bearer realm="security"'];

const unauthenticated = (reason: string) => new EsError(401, 'security_exception', reason, undefined, {});

function grants(held: Privilege, needed: Privilege): boolean {
  return held === 'manage_inference' || needed === 'monitor_inference';
}

export interface AuthenticationOptions {
  keys: ApiKeys;
  /** Whether the service runs without authentication right now. */
  open: () => boolean | Promise<boolean>;
  /** Path prefixes of routes other plugins add (static files) that need no credentials. */
  publicPrefixes?: readonly string[];
}

export function authentication(app: FastifyInstance, opts: AuthenticationOptions): void {
  const prefixes = opts.publicPrefixes ?? [];
  app.addHook('onRoute', (route) => {
    if (prefixes.some((p) => route.url.startsWith(p))) route.config = { ...route.config, public: true };
  });
  const check = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const header = request.headers.authorization;
    if (!header) {
      reply.header('WWW-Authenticate', CHALLENGES);
      return sendError(reply, unauthenticated(`missing authentication credentials for REST request [${path}]`));
    }
    const credentials = parseAuthorization(header);
    const key = credentials && (await opts.keys.verify(credentials.id, credentials.secret));
    if (!key) {
      reply.header('WWW-Authenticate', CHALLENGES);
      return sendError(
        reply,
        unauthenticated(
          'unable to authenticate with provided credentials and anonymous access is not allowed for this request',
        ),
      );
    }
    request.apiKey = key;
    const access = request.routeOptions.config.access;
    if (access && !grants(key.privilege, access.privilege)) {
      return sendError(
        reply,
        new EsError(
          403,
          'security_exception',
          `action [${access.action}] is unauthorized for API key id [${key.id}] of user [${key.name}], this action is granted by the cluster privileges [${access.privilege}]`,
        ),
      );
    }
    return undefined;
  };
  // A callback hook: an open service (the common local case) pays no promise per request while the key check is cached.
  app.addHook('onRequest', (request, reply, done) => {
    const open = opts.open();
    if (open === true) {
      done();
      return;
    }
    // Read after the open check: request.routeOptions builds a new object on every read.
    if (request.routeOptions.config.public) {
      // A public route does not wait for the open check; should that check fail (the store away), the next request
      // meets it.
      if (open !== false) open.catch(() => undefined);
      done();
      return;
    }
    (open === false ? check(request, reply) : open.then((isOpen) => (isOpen ? undefined : check(request, reply)))).then(
      (sent) => {
        if (!sent) done();
      },
      (err: Error) => done(err),
    );
  });
}
