#!/bin/sh
# Container start: `exec` makes the server the container's main process, so it receives docker
# stop's (or the kubelet's) SIGTERM and shuts down gracefully. The model and index are read-only:
# the image's demo (prepared at build) or folders mounted over MODEL_DIR and INDEX_DIR; the server
# verifies the model's files by sha256 and the index against the model as it loads them. Arguments
# go to `serve`; everything else comes from the environment.
set -eu
cd "$(dirname "$0")/.."
exec node bin/recipe-retrieval.js serve --model "${MODEL_DIR:-models/demo}" --index "${INDEX_DIR:-index-data/demo-index}" "$@"
