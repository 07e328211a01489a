# Build stage: full dependencies, compile TypeScript, then drop dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspaces' manifests (the development tools, not built into the image): npm ci wants every
# workspace the lockfile names.
COPY scripts/testkit/package.json ./scripts/testkit/
COPY scripts/kafka-broker/package.json ./scripts/kafka-broker/
COPY scripts/peers/package.json ./scripts/peers/
COPY scripts/bench/package.json ./scripts/bench/
# npm ci's postinstall applies these patches to dependencies (docs/libraries.md, "Patched dependencies").
COPY scripts/patches ./scripts/patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api ./api
COPY jobs ./jobs
COPY db ./db
COPY lib ./lib
RUN npm run build && npm prune --omit=dev

# Runtime stage: compiled JavaScript and production dependencies only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8000
# GET /health/live on PORT (web) or HEALTH_PORT (worker, consumer: set it, or the check fails);
# the start period covers the migrations' wait and Kafka's first connection.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/lib/platform/healthcheck.js"]
# One image, every process type: override the command per service (see docker-compose.yml). The
# tracing preload does nothing unless OTEL_* variables ask for traces (docs/tracing.md).
CMD ["node", "--import", "./dist/lib/platform/tracing.js", "dist/api/server.js"]
