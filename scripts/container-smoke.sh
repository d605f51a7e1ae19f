#!/usr/bin/env bash
# Container smoke test (npm run test:container): build the serve-cpu image and use it as a user
# would. Engine-agnostic:
#   CONTAINER_ENGINE       docker (default) or podman
#   CONTAINER_RUN_FLAGS    extra `run` flags; with host networking (--network host) the container
#                          listens on the host's PORT directly, otherwise PORT is published on 127.0.0.1
#   CONTAINER_BUILD_FLAGS  extra `build` flags (base-image build args, mounts); empty on an ordinary
#                          Docker host
#   SMOKE_IMAGE            tag to build (default recipe-retrieval:smoke)
#   SMOKE_MAX_ADDED_MB     most MB the Dockerfile may add to the slim base image (default 250)
# Checks: build, cached rebuild, size; start with PORT/HOST; /readyz within a bound; demo training
# photos rank their own recipes first; the server runs as non-root; the image's HEALTHCHECK command
# passes inside the container (and fails against a closed port); SIGTERM with searches in flight:
# every one is answered 200 and the container exits 0. Every wait is bounded; the container is
# removed on exit, whatever happens. Needs node and curl on the host.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${CONTAINER_ENGINE:-docker}
read -r -a RUN_FLAGS <<< "${CONTAINER_RUN_FLAGS:-}"
read -r -a BUILD_FLAGS <<< "${CONTAINER_BUILD_FLAGS:-}"
IMAGE=${SMOKE_IMAGE:-recipe-retrieval:smoke}
MAX_ADDED_MB=${SMOKE_MAX_ADDED_MB:-250}
NAME="recipe-retrieval-smoke-$$"
IN_FLIGHT=12
# Demo training photos (the first photo of their recipe) and that recipe: measured, the demo model
# ranks every training recipe first for its first photo, among all 407.
PHOTOS=(
  "index-data/demo/images/train/0/0/4/2/004217501a.jpg c08e452da4"
  "index-data/demo/images/train/9/1/7/f/917fa250c9.jpg e7799953ca"
  "index-data/demo/images/train/c/6/b/6/c6b6a8f5c6.jpg a857b0f190"
)

step() { printf 'container-smoke [%4d s] %s\n' "$SECONDS" "$*"; }
fail() {
  printf 'container-smoke: FAILED: %s\n' "$*" >&2
  if [ -n "${started:-}" ]; then
    echo "--- last container log lines:" >&2
    "$ENGINE" logs "$NAME" 2>&1 | tail -n 40 >&2 || true
  fi
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
TMP=$(mktemp -d)
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  [ -n "${started:-}" ] && "$ENGINE" rm -f "$NAME" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

command -v "$ENGINE" >/dev/null || fail "container engine '$ENGINE' not found (set CONTAINER_ENGINE)"
# podman/buildah write OCI images by default, which drop HEALTHCHECK; Docker keeps it anyway.
FORMAT=()
case "$(basename "$ENGINE")" in podman* | buildah*) FORMAT=(--format docker) ;; esac

# --- build, then the same build again (every layer cached) ---------------------------------------
step "building $IMAGE (target serve-cpu) with $ENGINE"
t=$(now)
"$ENGINE" build "${FORMAT[@]}" "${BUILD_FLAGS[@]}" --target serve-cpu -t "$IMAGE" . > "$TMP/build.log" 2>&1 \
  || { tail -n 40 "$TMP/build.log" >&2; fail "build failed"; }
BUILD_S=$(since "$t")
step "built in $BUILD_S s; building again (cached)"
t=$(now)
"$ENGINE" build "${FORMAT[@]}" "${BUILD_FLAGS[@]}" --target serve-cpu -t "$IMAGE" . > "$TMP/rebuild.log" 2>&1 \
  || { tail -n 40 "$TMP/rebuild.log" >&2; fail "cached rebuild failed"; }
REBUILD_S=$(since "$t")

size_of() { "$ENGINE" image inspect --format '{{.Size}}' "$1"; }
IMAGE_MB=$(( $(size_of "$IMAGE") / 1000000 ))
# The base the build used: a --build-arg NODE_SLIM_IMAGE=... among the build flags, else the Dockerfile's default.
BASE=node:20-bookworm-slim
for flag in "${BUILD_FLAGS[@]}"; do case "$flag" in NODE_SLIM_IMAGE=*) BASE=${flag#NODE_SLIM_IMAGE=} ;; esac; done
BASE_MB=$(( $(size_of "$BASE") / 1000000 ))
ADDED_MB=$(( IMAGE_MB - BASE_MB ))
step "rebuilt in $REBUILD_S s; image $IMAGE_MB MB = base $BASE $BASE_MB MB + $ADDED_MB MB"
[ "$ADDED_MB" -le "$MAX_ADDED_MB" ] || fail "the image adds $ADDED_MB MB to its base (limit $MAX_ADDED_MB MB)"

# --- run it as a user would ----------------------------------------------------------------------
PORT=$(node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
PUBLISH=(-p "127.0.0.1:$PORT:$PORT")
for flag in "${RUN_FLAGS[@]}"; do case "$flag" in --network=host | --net=host | host) PUBLISH=() ;; esac; done
URL="http://127.0.0.1:$PORT"
step "starting $NAME on port $PORT"
t=$(now)
started=1
# (podman without systemd complains on stderr that it cannot schedule the health checks itself.)
"$ENGINE" run -d --name "$NAME" "${RUN_FLAGS[@]}" "${PUBLISH[@]}" -e PORT="$PORT" -e HOST=0.0.0.0 "$IMAGE" > /dev/null 2> "$TMP/run.err" \
  || { cat "$TMP/run.err" >&2; fail "could not start the container"; }
deadline=$((SECONDS + 120))
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/readyz")" = 200 ]; do
  [ "$("$ENGINE" inspect --format '{{.State.Running}}' "$NAME")" = true ] || fail "the container exited before it was ready"
  [ "$SECONDS" -lt "$deadline" ] || fail "/readyz not 200 after 120 s"
  sleep 0.5
done
READY_S=$(since "$t")
step "ready in $READY_S s"

uid=$("$ENGINE" exec "$NAME" id -u) || fail "exec id -u failed"
[ "$uid" != 0 ] || fail "the server runs as root"
step "runs as uid $uid"

# --- search: each training photo's own recipe first ----------------------------------------------
for entry in "${PHOTOS[@]}"; do
  read -r photo recipe <<< "$entry"
  curl -sf --max-time 60 -F "image=@$photo" "$URL/v1/search?k=5" -o "$TMP/search.json" || fail "search with $photo failed"
  top=$(node -e "const r = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8')).recipes; console.log(r.length === 5 ? r[0].id : 'wrong count ' + r.length)" "$TMP/search.json")
  [ "$top" = "$recipe" ] || fail "search with $photo ranked $top first, not its recipe $recipe"
done
step "search: ${#PHOTOS[@]} training photos each rank their own recipe first"

# --- the image's own HEALTHCHECK command, run inside the container --------------------------------
mapfile -t health < <("$ENGINE" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" \
  | node -e "let s = ''; process.stdin.on('data', (d) => { s += d; }).on('end', () => {
      const t = JSON.parse(s)?.Test ?? [];
      if (t[0] === 'CMD') console.log(t.slice(1).join('\n'));
      else if (t[0] === 'CMD-SHELL') console.log(['sh', '-c', t[1]].join('\n'));
    });")
[ "${#health[@]}" -gt 0 ] || fail "the image has no HEALTHCHECK (podman: build with --format docker)"
timeout 30 "$ENGINE" exec "$NAME" "${health[@]}" || fail "HEALTHCHECK command (${health[*]}) failed on a ready server"
# The same command must fail when nothing answers (a check that cannot fail checks nothing).
if timeout 30 "$ENGINE" exec -e PORT=1 "$NAME" "${health[@]}"; then fail "HEALTHCHECK passes with no server on its port"; fi
step "HEALTHCHECK (${health[*]}) passes, and fails against a closed port"

# --- graceful stop: SIGTERM with searches in flight ---------------------------------------------
# Searches in flight = logged as incoming, not yet completed (pino's JSON lines, by request id).
search_counts() {
  "$ENGINE" logs "$NAME" 2>/dev/null | node -e "let s = ''; process.stdin.on('data', (d) => { s += d; }).on('end', () => {
    const incoming = new Set(); const done = new Set(); let afterStop = 0, stopping = false;
    for (const line of s.split('\n')) {
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line);
      if (e.msg && e.msg.startsWith('shutting down')) stopping = true;
      if (e.req && e.req.method === 'POST' && e.req.url.startsWith('/v1/search')) incoming.add(e.reqId);
      else if (e.msg === 'request completed' && incoming.has(e.reqId)) { done.add(e.reqId); if (stopping) afterStop++; }
    }
    console.log(incoming.size, incoming.size - done.size, afterStop);
  });"
}
read -r before _ _ <<< "$(search_counts)"
for i in $(seq 1 "$IN_FLIGHT"); do
  photo=${PHOTOS[$((i % ${#PHOTOS[@]}))]%% *}
  # Uploads throttled to 20 kB/s (1-4 s for these photos): an idle machine answers a search in
  # ~50 ms, so unthrottled searches can all finish before SIGTERM lands and the check proves nothing.
  curl -s --max-time 90 --limit-rate 20k -o /dev/null -w '%{http_code}' -F "image=@$photo" "$URL/v1/search?k=5" > "$TMP/inflight.$i" &
done
deadline=$((SECONDS + 30))
while :; do
  read -r seen open _ <<< "$(search_counts)"
  [ $((seen - before)) -ge "$IN_FLIGHT" ] && break
  [ "$SECONDS" -lt "$deadline" ] || fail "the server logged $((seen - before)) of $IN_FLIGHT searches within 30 s"
  sleep 0.1
done
[ "$open" -gt 0 ] || fail "all $IN_FLIGHT searches finished before SIGTERM could be sent; raise IN_FLIGHT"
"$ENGINE" kill --signal TERM "$NAME" > /dev/null || fail "could not send SIGTERM"
step "SIGTERM sent with $open of $IN_FLIGHT searches in flight"
wait
for i in $(seq 1 "$IN_FLIGHT"); do
  code=$(cat "$TMP/inflight.$i")
  [ "$code" = 200 ] || fail "search $i in flight at SIGTERM answered '$code', not 200"
done
exit_code=$(timeout 60 "$ENGINE" wait "$NAME") || fail "the container did not stop within 60 s of SIGTERM"
exit_code=${exit_code##*$'\n'}
[ "$exit_code" = 0 ] || fail "the container exited with $exit_code after SIGTERM"
read -r _ _ after_stop <<< "$(search_counts)"
[ "$after_stop" -gt 0 ] || fail "no search completed after the server logged its shutdown"
step "all $IN_FLIGHT searches answered 200 ($after_stop completed after the shutdown began), exit code 0"

cat <<EOF
container-smoke: PASSED ($ENGINE, $(nproc) cores)
  build            $BUILD_S s
  cached rebuild   $REBUILD_S s
  image size       $IMAGE_MB MB (base $BASE: $BASE_MB MB, added by the Dockerfile: $ADDED_MB MB)
  start to ready   $READY_S s
EOF
