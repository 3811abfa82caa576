#!/usr/bin/env bash
# The Node/TypeScript original this project re-implements (StephenGrider/ticketing),
# set up beside ours for `loadbench -only side-by-side` (docs/benchmarks.md, "Side by side
# with the Node original"). None of its code is in this repository: `fetch` clones it into
# a scratch folder, outside the repository, and everything else happens there.
#
#   infra/loadbench/original.sh fetch     clone it into $ORIGINAL (or copy $ORIGINAL_SRC)
#   infra/loadbench/original.sh install   npm install (no dev packages) and tsc, each service
#   infra/loadbench/original.sh up        start our runner and the original, on one FerretDB
#   infra/loadbench/original.sh bench     run loadbench -only side-by-side against both
#   infra/loadbench/original.sh startup   time each service's start to its first answer, both
#   infra/loadbench/original.sh down      stop both
#   infra/loadbench/original.sh clean     stop both and delete their data, so the next up starts afresh
#   infra/loadbench/original.sh all       every step in order, then down
#
# On a shared machine, hold its benchmark lock around bench and startup:
#   flock /path/to/bench.lock sh -c 'infra/loadbench/original.sh bench -buyers 250 -catalogue 1000 && infra/loadbench/original.sh startup'
#
# What the original runs on, and why:
# - the database: ours, the FerretDB our runner starts (its own databases, orig-auth and
#   orig-tickets, ... beside ours);
# - the broker: the same nats-streaming-server binary, started here a second time, unsecured,
#   on its own port: the original connects without credentials, and on our broker its
#   queue groups would share our events, in another shape;
# - Redis (expiration's queue): redis-server on 6379, unsecured, as the original's Bull
#   knows only REDIS_HOST;
# - a router: nginx in front, routing /api/users, /api/tickets, /api/orders, /api/payments
#   as its ingress does, with keep-alive to each service like our gateway;
# - every service listens on port 3000 in its source: a preload written here (port-shim.js)
#   makes listen(3000) listen on $PORT instead, so five run on one machine;
# - NODE_ENV=test: its cookies are `secure` otherwise, and would not come back over http.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ORIGINAL=${ORIGINAL:-/tmp/ticketing-original}
ORIGINAL_REPO=${ORIGINAL_REPO:-https://github.com/StephenGrider/ticketing}
BIN=${TICKETING_BIN:-$root/bin}
OURS_BASE=${OURS_BASE:-5100}      # our runner: FerretDB on 5100, gateway on OURS_GATEWAY
OURS_GATEWAY=${OURS_GATEWAY:-5190}
ORIG_BASE=${ORIG_BASE:-5200}      # the original: broker 5201, services 5210-5214, router 5290
ORIG_ROUTER=$((ORIG_BASE + 90))
services=(auth tickets orders payments expiration)
run=$ORIGINAL/run
ours_data=$ORIGINAL/ours-data

port_of() { # the original's port for a service
  case $1 in auth) echo $((ORIG_BASE + 10)) ;; tickets) echo $((ORIG_BASE + 11)) ;;
    orders) echo $((ORIG_BASE + 12)) ;; payments) echo $((ORIG_BASE + 13)) ;; expiration) echo $((ORIG_BASE + 14)) ;; esac
}

fetch() {
  if [ -n "${ORIGINAL_SRC:-}" ]; then
    mkdir -p "$ORIGINAL/src" && cp -a "$ORIGINAL_SRC"/. "$ORIGINAL/src/"
  elif [ ! -d "$ORIGINAL/src/auth" ]; then
    git clone --depth 1 "$ORIGINAL_REPO" "$ORIGINAL/src"
  fi
  case "$(cd "$ORIGINAL/src" && pwd -P)/" in "$(cd "$root" && pwd -P)/"*)
    echo "original.sh: $ORIGINAL is inside the repository; choose a folder outside it" >&2; exit 1 ;; esac
}

install() {
  for s in "${services[@]}"; do
    (cd "$ORIGINAL/src/$s" && npm install --omit=dev --no-audit --no-fund --loglevel=error)
    # Its tests' files do not compile without the dev packages; tsc still emits the rest.
    (cd "$ORIGINAL/src/$s" && npx tsc -p . >"$ORIGINAL/tsc-$s.log" 2>&1) || true
    test -f "$ORIGINAL/src/$s/src/index.js" || { echo "original.sh: tsc emitted nothing for $s (see $ORIGINAL/tsc-$s.log)" >&2; exit 1; }
  done
  cat >"$ORIGINAL/port-shim.js" <<'EOF'
// Preloaded (node -r): listen(3000), hard-coded in every service, listens on $PORT.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, ...rest) {
  if (port === 3000 && process.env.PORT) port = Number(process.env.PORT);
  return listen.call(this, port, ...rest);
};
EOF
}

wait_port() { # host:port within 60 s
  for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "original.sh: nothing listens on $1" >&2; return 1
}

up_ours() {
  mkdir -p "$ours_data"
  # The limits loadbench raises on a system of its own (system.go, signinLimitEnv).
  env NO_CLIENT=1 DATA_DIR="$ours_data" BASE_PORT=$OURS_BASE GATEWAY_PORT=$OURS_GATEWAY TICKETING_ROOT="$root" \
    SIGNIN_ADDRESS_BURST=1000000 SIGNIN_ADDRESS_EVERY=1ms SIGNUP_ADDRESS_BURST=1000000 SIGNUP_ADDRESS_EVERY=1ms \
    RESERVE_ADDRESS_BURST=1000000 RESERVE_ADDRESS_EVERY=1ms PAY_ADDRESS_BURST=1000000 PAY_ADDRESS_EVERY=1ms \
    setsid "$BIN/runner" >"$ORIGINAL/ours-runner.log" 2>&1 &
  echo $! >"$ORIGINAL/ours-runner.pid"
  for _ in $(seq 900); do
    curl -fsS -o /dev/null "http://127.0.0.1:$OURS_GATEWAY/api/users/currentuser" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "original.sh: our runner did not come up (see $ORIGINAL/ours-runner.log)" >&2; return 1
}

start() { # name, then the command; its pid goes where loadbench reads it
  local name=$1; shift
  setsid "$@" >"$ORIGINAL/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
}

original_env() { # the environment of one of the original's services
  local s=$1
  echo NODE_ENV=test PORT="$(port_of "$s")" JWT_KEY=side-by-side-not-a-secret \
    MONGO_URI="mongodb://127.0.0.1:$OURS_BASE/orig-$s" NATS_URL="nats://127.0.0.1:$((ORIG_BASE + 1))" \
    NATS_CLUSTER_ID=ticketing NATS_CLIENT_ID="orig-$s-$RANDOM" REDIS_HOST=127.0.0.1 STRIPE_KEY=sk_test_localstandin
}

up_original() {
  mkdir -p "$run" "$ORIGINAL/nats" "$ORIGINAL/router/temp"
  start nats-streaming "$BIN/nats-streaming-server" -cid ticketing -a 127.0.0.1 -p $((ORIG_BASE + 1)) \
    -m $((ORIG_BASE + 2)) -store file -dir "$ORIGINAL/nats"
  start redis redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 127.0.0.1:$((ORIG_BASE + 1)); wait_port 127.0.0.1:6379
  for s in "${services[@]}"; do
    # shellcheck disable=SC2046 # original_env is NAME=value words
    (cd "$ORIGINAL/src/$s" && start "$s" env $(original_env "$s") node -r "$ORIGINAL/port-shim.js" src/index.js)
  done
  for s in auth tickets orders payments; do wait_port "127.0.0.1:$(port_of "$s")"; done
  router >"$ORIGINAL/router/nginx.conf"
  start gateway nginx -e stderr -p "$ORIGINAL/router" -c "$ORIGINAL/router/nginx.conf"
  wait_port 127.0.0.1:$ORIG_ROUTER
}

router() { # the original's ingress, as nginx: one base URL for its four APIs
  cat <<EOF
worker_processes 1;
daemon off;
pid $ORIGINAL/router/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $ORIGINAL/router/temp/body;
  proxy_temp_path $ORIGINAL/router/temp/proxy;
  fastcgi_temp_path $ORIGINAL/router/temp/fastcgi;
  uwsgi_temp_path $ORIGINAL/router/temp/uwsgi;
  scgi_temp_path $ORIGINAL/router/temp/scgi;
  client_body_buffer_size 1m;
  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_set_header Connection "";
  proxy_set_header Host \$http_host;
  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
  upstream auth { server 127.0.0.1:$(port_of auth); keepalive 64; }
  upstream tickets { server 127.0.0.1:$(port_of tickets); keepalive 64; }
  upstream orders { server 127.0.0.1:$(port_of orders); keepalive 64; }
  upstream payments { server 127.0.0.1:$(port_of payments); keepalive 64; }
  server {
    listen 127.0.0.1:$ORIG_ROUTER;
    location /api/users { proxy_pass http://auth; }
    location /api/tickets { proxy_pass http://tickets; }
    location /api/orders { proxy_pass http://orders; }
    location /api/payments { proxy_pass http://payments; }
  }
}
EOF
}

bench() {
  (cd "$root" && env BASE_URL="http://127.0.0.1:$OURS_GATEWAY" DATA_DIR="$ours_data" BASE_PORT=$OURS_BASE \
    ORIGINAL_URL="http://127.0.0.1:$ORIG_ROUTER" ORIGINAL_DATA_DIR="$ORIGINAL" \
    go run ./infra/loadbench -only side-by-side "${BENCH_ARGS[@]}")
}

first_answer() { # milliseconds from starting "$@" until $method $url answers $want; it is stopped after
  local t0 t1 pid
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 6000); do
    [ "$(curl -s -X "$method" -H 'Content-Type: application/json' -d '{}' -o /dev/null -w '%{http_code}' "$url" 2>/dev/null)" = "$want" ] && break
    sleep 0.005
  done
  t1=$(date +%s%N)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$(((t1 - t0) / 1000000))"
}

# as_running becomes "$@" with the environment of the running process $1 (the passwords
# stay off the command line) but for PORT and the broker client id; first_answer runs it
# in the background, in a shell of its own, which exec replaces.
as_running() {
  local pid=$1 port=$2 id=$3 kv; shift 3
  while IFS= read -r -d '' kv; do export "${kv?}"; done <"/proc/$pid/environ"
  export PORT=$port NATS_CLIENT_ID=$id
  exec "$@"
}

# startup starts a second copy of each service of both systems, with the running copy's
# environment but another port (and broker client id), and times it to its first answer:
# 200 from a public route for auth and tickets, 401 from a route behind a session for
# orders and payments. Expiration serves no route in the original, so it is not timed.
startup() {
  local s path want method orig ours
  printf '%-10s %14s %10s %8s\n' service "original (ms)" "ours (ms)" ratio
  for s in auth tickets orders payments; do
    case $s in auth) method=GET path=/api/users/currentuser want=200 ;; tickets) method=GET path=/api/tickets want=200 ;;
      orders) method=GET path=/api/orders want=401 ;; payments) method=POST path=/api/payments want=401 ;; esac
    url="http://127.0.0.1:$((ORIG_BASE + 40))$path"
    orig=$(cd "$ORIGINAL/src/$s" && first_answer as_running "$(cat "$run/$s.pid")" $((ORIG_BASE + 40)) "orig-$s-startup-$RANDOM" \
      node -r "$ORIGINAL/port-shim.js" src/index.js)
    url="http://127.0.0.1:$((OURS_BASE + 40))$path"
    ours=$(first_answer as_running "$(cat "$ours_data/run/$s.pid")" $((OURS_BASE + 40)) "$s-startup-$RANDOM" "$BIN/$s")
    printf '%-10s %14s %10s %8s\n' "$s" "$orig" "$ours" "$(awk -v a="$ours" -v b="$orig" 'BEGIN { printf "%.3f", a / b }')"
  done
}

down() {
  for f in "$run"/*.pid "$ORIGINAL/ours-runner.pid"; do
    [ -f "$f" ] || continue
    kill -- -"$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

cmd=${1:-all}
shift || true
BENCH_ARGS=("$@")
case $cmd in
  fetch) fetch ;; install) install ;; up) up_ours && up_original ;; bench) bench ;;
  startup) startup ;; down) down ;;
  clean) down; rm -rf "$ours_data" "$ORIGINAL/nats" "$run" ;;
  all) fetch && install && trap down EXIT && up_ours && up_original && bench && startup ;;
  *) echo "usage: $0 fetch|install|up|bench|startup|down|clean|all [loadbench flags]" >&2; exit 2 ;;
esac
