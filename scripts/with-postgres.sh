#!/usr/bin/env bash
# Runs a command with Postgres for the suites, exported as two URLs of the same server:
#   POSTGRES_URL   the server directly: the one answering on 127.0.0.1:5432 (trust auth, user postgres), or
#                  DATABASE_SETUP_URL when set, or else a throwaway cluster started here from the installed
#                  PostgreSQL binaries (Debian's package installed first when there are none; THROWAWAY_POSTGRES=1
#                  starts one even when a server answers);
#   PGBOUNCER_URL  pgbouncer in transaction-pooling mode in front of it (Debian's package, installed when missing),
#                  the stand-in for RDS Proxy's multiplexing.
# Each test makes and drops a database of its own (storefront_test_*); what an interrupted run left is dropped
# first. Everything started here is stopped however the command ends.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
apt_install() { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "$@"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
answers() { python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)' "$1" "$2" 2>/dev/null; }

work=$(mktemp -d /tmp/storefront-pg.XXXXXX)
chmod 755 "$work"
cluster=""
bouncer=""
cleanup() {
  [ -z "$bouncer" ] || { kill "$bouncer" 2>/dev/null; wait "$bouncer" 2>/dev/null; } || true
  [ -z "$cluster" ] || as_owner "$cluster/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# initdb, postgres and pgbouncer refuse to run as root: as `postgres` (which Debian's packages create) then.
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  id "$owner" >/dev/null 2>&1 || useradd --system --no-create-home "$owner"
  chown "$owner" "$work"
fi
as_owner() { if [ "$(id -un)" = "$owner" ]; then "$@"; else runuser -u "$owner" -- "$@"; fi; }

command -v psql >/dev/null || apt_install postgresql-client

if [ -n "${DATABASE_SETUP_URL:-}" ]; then
  direct=$DATABASE_SETUP_URL
elif [ -z "${THROWAWAY_POSTGRES:-}" ] && answers 127.0.0.1 5432; then
  direct=postgres://postgres@127.0.0.1:5432/postgres
else
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  port=$(free_port)
  echo "a throwaway Postgres cluster from $bin on port $port"
  as_owner "$bin/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --no-sync >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log"; exit 1; }
  as_owner "$bin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w -o \
    "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200" \
    start >/dev/null || { cat "$work/postgres.log"; exit 1; }
  cluster=$bin
  direct=postgres://postgres@127.0.0.1:$port/postgres
fi

# What an interrupted run left behind.
psql "$direct" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'storefront\_test\_%'" |
  while read -r stale; do psql "$direct" -qc "DROP DATABASE IF EXISTS \"$stale\" WITH (FORCE)" >/dev/null; done
psql "$direct" -Atqc "SELECT rolname FROM pg_roles WHERE rolname LIKE 'storefront\_reader\_%'" |
  while read -r stale; do psql "$direct" -qc "DROP ROLE IF EXISTS \"$stale\"" >/dev/null; done

pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$pgbouncer" ] || { apt_install pgbouncer; pgbouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer); }
host_port=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432)' "$direct")
read -r pg_host pg_port <<<"$host_port"
pg_user=$(python3 -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).username or "postgres")' "$direct")
bouncer_port=$(free_port)
cat >"$work/pgbouncer.ini" <<EOF
[databases]
* = host=$pg_host port=$pg_port user=$pg_user
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 10
server_idle_timeout = 5
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
EOF
chown "$owner" "$work/pgbouncer.ini" 2>/dev/null || true
# It changes user itself (-u) when started as root, so the pid is its own.
if [ "$(id -un)" = "$owner" ]; then "$pgbouncer" "$work/pgbouncer.ini" >/dev/null 2>&1 &
else "$pgbouncer" -u "$owner" "$work/pgbouncer.ini" >/dev/null 2>&1 & fi
bouncer=$!
for _ in $(seq 1 100); do
  answers 127.0.0.1 "$bouncer_port" && break
  kill -0 "$bouncer" 2>/dev/null || { echo "pgbouncer did not start:"; cat "$work/pgbouncer.log"; exit 1; }
  sleep 0.1
done

export POSTGRES_URL=$direct
export PGBOUNCER_URL=postgres://$pg_user@127.0.0.1:$bouncer_port/postgres
"$@"
