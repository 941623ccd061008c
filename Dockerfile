# The service image: compiled TypeScript on Node 20, data on /data. Tests and benchmarks stay out of it
# (test/deploy/container.test.ts compiles exactly what this file copies, and checks what the runtime stage holds).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary is reachable.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY routes routes
COPY schemas schemas
COPY plugins plugins
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
# MALLOC_ARENA_MAX=2: glibc's per-thread arenas otherwise keep memory freed after a load peak (bench: drained RSS 1.47x idle -> 1.11x).
ENV NODE_ENV=production HOST=0.0.0.0 PORT=9200 DATA_DIR=/data MALLOC_ARENA_MAX=2
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY public public
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 9200
# GET /_health needs no credentials and answers only {"status":"ok"}; the port is read at check time, so -e PORT=… is honoured.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 9200) + '/_health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/server.js"]
