#!/bin/sh
# Container start. With DEMO_SETUP=1 (the image default) it first runs `setup` on MODEL_DIR and
# INDEX_DIR: about a second to verify what the image build prepared, or a few seconds to fill empty
# volumes. It never overwrites a model or index that setup did not make (set DEMO_SETUP=0 to serve
# your own). Then `exec` makes the server PID 1's process, so it receives docker stop's SIGTERM and
# shuts down gracefully. Arguments go to `serve`; everything else comes from the environment.
set -eu
cd "$(dirname "$0")/.."
if [ "${DEMO_SETUP:-1}" = "1" ]; then
  # Its summary goes to stderr with its progress: stdout is the server's JSON log stream.
  node bin/recipe-retrieval.js setup --model-out "${MODEL_DIR:-models/demo}" --index-out "${INDEX_DIR:-index-data/demo-index}" >&2
fi
exec node bin/recipe-retrieval.js serve --model "${MODEL_DIR:-models/demo}" --index "${INDEX_DIR:-index-data/demo-index}" "$@"
