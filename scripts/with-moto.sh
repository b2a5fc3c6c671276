#!/usr/bin/env bash
# Runs a command with a single-threaded moto server on a free loopback port, exported as MOTO_ENDPOINT;
# the server is stopped however the command ends.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=target/moto.log
mkdir -p target
.venv/bin/python scripts/moto_server.py "$port" >"$log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true; wait $moto 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 || curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
  kill -0 $moto 2>/dev/null || { echo "moto server did not start:"; cat "$log"; exit 1; }
  sleep 0.1
done
export MOTO_ENDPOINT="http://127.0.0.1:$port"
"$@"
