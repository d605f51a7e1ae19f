#!/bin/sh
# Every dependency, exactly as package-lock.json says, into ./node_modules; shared by the CPU, CUDA
# and training builds. Install scripts are skipped: the package's own `prepare` would compile
# sources that are not copied yet (the layer stays cached until the lockfile changes), and
# onnxruntime-node's would download CUDA providers (the CUDA build asks its installer explicitly).
# The one native addon compiled from source is hnswlib-node's; sharp's comes prebuilt as a package.
set -eu
npm ci --ignore-scripts --no-audit --no-fund
npm rebuild hnswlib-node
