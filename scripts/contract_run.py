"""The HTTP contract, property-tested: schemathesis (pinned in the project venv) generates requests from the
/openapi.json a fresh local server serves (coverage, fuzzing and stateful phases, every check), once as an artisan
who owns seeded products and once as a shopper, each on the catalog and its own role's operations (the shopper's run
also on the local server's own routes). The stateful phase follows the spec's links: an order placed is read and
cancelled, a product listed is edited, restocked, given a photo and archived. Any failure (a 5xx, an undocumented
status, a response off its schema, a schema-valid request refused...) fails `make test`.

Each run draws a new seed and prints it; `--seed N` (or SEED=N) replays one.

Usage: .venv/bin/python scripts/contract_run.py [--seed N] [--max-examples N]
"""

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "target" / "debug" / "storefront-local"
ST = ROOT / ".venv" / "bin" / "st"
CONFIG = ROOT / "tests" / "contract" / "schemathesis.toml"
# (user, role, tags): the artisan owns the seeded ceramics that tests/contract/schemathesis.toml names as
# `product_id`, so their writes reach a real product (after the shopper's run: the artisan may archive it).
# The webhook (tag `payments`) runs with the shopper: its caller is anyone, its authentication the signature.
CALLERS = [
    ("alice", "shopper", ["catalog", "shopper", "payments", "local"]),
    ("marta-clay", "artisan", ["catalog", "artisan"]),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def wait_until_healthy(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"contract run: the local server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit("contract run: the local server did not answer /health within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED") or random.randrange(2**31)))
    parser.add_argument("--max-examples", type=int, default=None)
    args = parser.parse_args()
    for tool in (SERVER, ST):
        if not tool.exists():
            sys.exit(f"contract run: {tool} is missing (make test builds the server and installs the venv)")
    print(f"contract run: seed {args.seed} (SEED={args.seed} make contract replays it)", flush=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    failed = []
    with tempfile.TemporaryDirectory() as data_dir:
        # STAND_IN_PORTS=free: the port is free, the six after it (make dev's stand-ins) may not be.
        env = dict(os.environ, PORT=str(port), DATA_DIR=data_dir, RUST_LOG="warn", STAND_IN_PORTS="free")
        log = open(Path(data_dir) / "server.log", "w")
        server = subprocess.Popen([str(SERVER)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(base, server)
            for user, role, tags in CALLERS:
                token = post_json(f"{base}/dev/token", {"user_id": user, "role": role})["token"]
                command = [
                    str(ST), "--config-file", str(CONFIG), "run", f"{base}/openapi.json",
                    "--phases", "coverage,fuzzing,stateful", "--checks", "all", "--seed", str(args.seed),
                    # DELETE /products/{id} archives: the product stays readable (status `archived`), as past
                    # orders and a shopper's bookmark need (docs/api.md), so "deleted resource still available" is
                    # that, by design.
                    "--exclude-checks", "use_after_free",
                    "--header", f"Authorization: Bearer {token}", "--no-color",
                    "--generation-database", "none",
                ]
                for tag in tags:
                    command += ["--include-tag", tag]
                if args.max_examples:
                    command += ["--max-examples", str(args.max_examples)]
                print(f"contract run as {role} {user}: {' '.join(command[:6])} ...", flush=True)
                started = time.monotonic()
                result = subprocess.run(command, cwd=data_dir)
                print(f"contract run as {role}: exit {result.returncode} in {time.monotonic() - started:.1f} s", flush=True)
                if result.returncode != 0:
                    failed.append(role)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
            if failed:
                print((Path(data_dir) / "server.log").read_text()[-4000:], file=sys.stderr)
    if failed:
        print(f"contract run: failures as {', '.join(failed)} (seed {args.seed})", file=sys.stderr)
        return 1
    print("contract run: 0 failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
