# syntax=docker/dockerfile:1
#
# recipe-retrieval images (docs/docker.md):
#   serve-cpu   Node 20 slim, onnxruntime-node on CPU, the demo prepared at build
#               docker build --target serve-cpu -t recipe-retrieval:cpu .
#   serve-cuda  CUDA 12 + cuDNN 9 runtime (what onnxruntime-node 1.30's CUDA providers link against),
#               starts on the GPU and falls back to CPU with a log line when there is none
#               docker build --target serve-cuda -t recipe-retrieval:cuda .
#   train-gpu   CUDA 11.2 + cuDNN 8 (what @tensorflow/tfjs-node-gpu 4.22.0's libtensorflow needs),
#               the training commands: docker run --gpus all recipe-retrieval:train train ...
# Serving is configured by environment variables (HOST, PORT, DEVICE, MODEL_DIR, INDEX_DIR, ...).

ARG NODE_IMAGE=node:20-bookworm
ARG NODE_SLIM_IMAGE=node:20-bookworm-slim
ARG CUDA_SERVE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04
ARG CUDA_TRAIN_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

# Node 20 (node and npm) for the CUDA images, which come without it. The official binaries need
# glibc 2.28, older than both Ubuntu bases.
FROM ${NODE_SLIM_IMAGE} AS node-dist

# ---------------------------------------------------------------------------------------------------
# CPU build: all dependencies (hnswlib-node compiles here), TypeScript -> dist/ (the prepare script
# of npm ci), then only production dependencies are kept.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's postinstall would download CUDA providers; Node 20's npm 10 does not read
# package.json allowScripts, so the installer is told directly.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY scripts ./scripts
COPY test ./test
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/scripts

# ---------------------------------------------------------------------------------------------------
FROM ${NODE_SLIM_IMAGE} AS serve-cpu
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    HOST=0.0.0.0 \
    PORT=8080 \
    DEVICE=cpu \
    MODEL_DIR=models/demo \
    INDEX_DIR=index-data/demo-index \
    DATA_DIR=index-data \
    DEMO_SETUP=1 \
    LOG_LEVEL=info
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/node_modules ./node_modules
COPY models/demo-run ./models/demo-run
COPY index-data/demo ./index-data/demo
COPY docker/entrypoint.sh ./docker/entrypoint.sh
# The code stays root-owned and read-only to the server; only the demo's generated folders (and
# their parents, for setup's staging folder) belong to the runtime user, so setup can fill volumes.
RUN mkdir -p models/demo index-data/demo-index \
 && chown node:node models index-data models/demo index-data/demo-index
USER node
# The demo's ONNX export and index (a few seconds): containers start serving at once, and the
# entrypoint's setup only verifies them (or fills empty volumes mounted over them).
RUN node bin/recipe-retrieval.js setup
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["sh", "docker/entrypoint.sh"]

# ---------------------------------------------------------------------------------------------------
# A CUDA runtime with Node 20, shared by the CUDA build and serve stages.
FROM ${CUDA_SERVE_IMAGE} AS cuda-node
COPY --from=node-dist /usr/local/bin/node /usr/local/bin/node
COPY --from=node-dist /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version

# The native addons are built on the serving image's own Ubuntu, not on Debian.
FROM cuda-node AS build-cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY scripts ./scripts
COPY test ./test
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/test dist/scripts
# onnxruntime-node's own installer, asked for its CUDA 12 providers: it fetches them from the
# Microsoft.ML.OnnxRuntime.Gpu.Linux NuGet package of its own version (1.30.0; CUDA 12.x, cuDNN 9.x).
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

FROM cuda-node AS serve-cuda
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DEVICE=auto \
    MODEL_DIR=models/demo \
    INDEX_DIR=index-data/demo-index \
    DATA_DIR=index-data \
    DEMO_SETUP=1 \
    LOG_LEVEL=info
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --create-home app
WORKDIR /app
COPY --from=build-cuda /app/package.json /app/package-lock.json ./
COPY --from=build-cuda /app/bin ./bin
COPY --from=build-cuda /app/dist ./dist
COPY --from=build-cuda /app/node_modules ./node_modules
COPY models/demo-run ./models/demo-run
COPY index-data/demo ./index-data/demo
COPY docker/entrypoint.sh ./docker/entrypoint.sh
RUN mkdir -p models/demo index-data/demo-index \
 && chown app:app models index-data models/demo index-data/demo-index
USER app
# Built without a GPU: setup runs its inference on CPU (the index step always does).
RUN node bin/recipe-retrieval.js setup
EXPOSE 8080
# DEVICE=auto: CUDA when onnxruntime can start it, else CPU with a log line saying why
# (DEVICE=cuda would refuse to start without a GPU).
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["sh", "docker/entrypoint.sh"]

# ---------------------------------------------------------------------------------------------------
# Training with @tensorflow/tfjs-node-gpu (its install downloads libtensorflow 2.9 for CUDA 11.2 +
# cuDNN 8.1). The full toolchain stays: training, evaluation, export, index and serve commands all work.
FROM ${CUDA_TRAIN_IMAGE} AS train-gpu
COPY --from=node-dist /usr/local/bin/node /usr/local/bin/node
COPY --from=node-dist /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 app && useradd --uid 10001 --gid app --create-home app
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY scripts ./scripts
COPY test ./test
COPY models/demo-run ./models/demo-run
COPY models/recipe1m-vocab ./models/recipe1m-vocab
COPY index-data/demo ./index-data/demo
RUN npm ci --no-audit --no-fund \
 && npm install --no-save --no-audit --no-fund @tensorflow/tfjs-node-gpu@4.22.0 \
 && mkdir -p runs \
 && chown -R app:app runs models index-data
USER app
VOLUME ["/app/runs"]
ENTRYPOINT ["node", "bin/recipe-retrieval.js"]
CMD ["--help"]
