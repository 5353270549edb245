# agentbridge in a container. Agent CLIs are installed from npm; mount their logins
# (or pass API keys) as described in the README.
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# Build with the dev tools (server, the local page's client code and its static files, all into
# dist/), then keep only what runs (better-sqlite3 is compiled for this image).
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && npm install -g @anthropic-ai/claude-code@2.1.197 @openai/codex@0.169.0 @google/gemini-cli@0.61.0
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
# /agent restart exits (code 75) and the container's restart policy starts it again: a process
# spawned inside the container would die with it. `/agent workdir` stays inside /workspaces.
ENV AGENTBRIDGE_DATA_DIR=/data AGENTBRIDGE_WORKDIR=/workspaces/default AGENTBRIDGE_WORKSPACES_ROOT=/workspaces \
    AGENTBRIDGE_HTTP_HOST=0.0.0.0 AGENTBRIDGE_HTTP_PORT=8080 AGENTBRIDGE_RESTART_MODE=exit
VOLUME ["/data", "/workspaces"]
EXPOSE 8080
# /healthz is 503 while starting and while draining for a shutdown.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# SIGTERM starts the graceful shutdown: give it AGENTBRIDGE_SHUTDOWN_GRACE_S (60) plus a margin,
# e.g. `docker stop -t 90` (compose: stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli.js", "start"]
