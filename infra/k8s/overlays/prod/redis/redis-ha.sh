#!/bin/sh
# One member of expiration's replicated Redis (expiration-redis.yaml): its
# redis-server ("server") or its sentinel ("sentinel"). Both start from the
# primary the sentinels name now, so a member that restarts after a failover
# comes back as a replica of the new primary, never as a second primary. Only
# when no sentinel answers (the set's very first start) is member 0 the
# primary and the others its replicas.
set -eu
self="$POD_NAME.$REDIS_SERVICE"

primary=""
for sentinel in $(echo "$REDIS_SENTINELS" | tr ',' ' '); do
  # redis-cli authenticates with REDISCLI_AUTH; a sentinel demands it too.
  reply=$(redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --no-auth-warning \
    SENTINEL get-master-addr-by-name "$REDIS_MASTER_NAME" 2>/dev/null | head -n 1) || reply=""
  if [ -n "$reply" ] && [ "$reply" != "(nil)" ]; then
    primary="$reply"
    break
  fi
done
if [ -z "$primary" ]; then
  primary="${REDIS_MEMBERS%%,*}"
  primary="${primary%:*}"
fi

mode="$1"
shift
case "$mode" in
server)
  if [ "$primary" = "$self" ]; then
    exec redis-server "$@"
  fi
  exec redis-server "$@" --replicaof "$primary" 6379
  ;;
sentinel)
  # Sentinel rewrites its file with what it learns (replicas, the other
  # sentinels, a new primary), so it lives on a writable volume.
  conf=/sentinel/sentinel.conf
  cat >"$conf" <<EOF
port 26379
dir /sentinel
protected-mode no
requirepass $REDISCLI_AUTH
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel announce-port 26379
sentinel monitor $REDIS_MASTER_NAME $primary 6379 $SENTINEL_QUORUM
sentinel auth-pass $REDIS_MASTER_NAME $REDISCLI_AUTH
sentinel down-after-milliseconds $REDIS_MASTER_NAME 5000
sentinel failover-timeout $REDIS_MASTER_NAME 60000
sentinel parallel-syncs $REDIS_MASTER_NAME 1
EOF
  exec redis-server "$conf" --sentinel
  ;;
esac
echo "usage: redis-ha.sh server|sentinel [redis-server arguments]" >&2
exit 2
