# Shared by the shell benchmarks: builds the release binary, starts and
# feeds `orvanta up`. Source it from the repository root.
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
# ORVANTA_BIN: a binary built already (to compare two builds in one run).
if [ -z "${ORVANTA_BIN:-}" ]; then
  cargo build --release -q -p orvanta-server
fi
BIN="${ORVANTA_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/orvanta}"
TOKEN="orv_bench_token_0123456789abcdefghij"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

# Starts `orvanta up` on the data dir $1, with the environment given after it
# (NAME=value ...); sets URL and PID.
start() {
  local dir="$1"
  shift
  env ORVANTA_ADMIN_TOKEN="$TOKEN" RUST_LOG=${RUST_LOG:-warn} "$@" "$BIN" up --port 0 --data-dir "$dir" > "$dir.out" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do
    URL=$(sed -n 's/^Orvanta is listening on \(http[^ ]*\).*/\1/p' "$dir.out")
    [ -n "$URL" ] && break
    sleep 0.1
  done
  [ -n "$URL" ] || { cat "$dir.out"; exit 1; }
}

# Saves a script: $1 path, $2 language, $3 content, [$4 extra JSON fields, e.g. '{"warm": false}'].
create() {
  python3 -c 'import json,sys; d={"path": sys.argv[1], "language": sys.argv[2], "content": sys.argv[3]}; d.update(json.loads(sys.argv[4])); print(json.dumps(d))' \
    "$1" "$2" "$3" "${4:-{\}}" |
    curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data @- "$URL/api/w/demo/scripts/create" >/dev/null
}

# Writes wrk's script for POSTs of the JSON body $1 with the token to $WORK/post.lua.
post_script() {
  cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$1'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
}
