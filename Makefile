# The verbs of the project. README and CI use these; each one works on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
REGION   ?= us-east-1
export AWS_DEFAULT_REGION ?= $(REGION)
# The SAM CLI asks before sending telemetry; never from here.
export SAM_CLI_TELEMETRY := 0
# cargo-lambda and zig (PyPI) live in the venv; `sam build` calls `cargo lambda` through PATH.
WITH_VENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: help dev test postgres-suites migrate tools browser-tools lint template-check screenshots unit e2e contract bench build invoke watch loadtest deploy clean

help: ## list the verbs
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

dev: ## run the whole storefront locally on http://127.0.0.1:$${PORT:-3000} (data in $${DATA_DIR:-.storefront}; STORE=postgres for Postgres, SHARDS=n to shard it)
	cargo run -p storefront-local

test: tools browser-tools lint template-check ## install what the tests need, then run every check and test
	mkdir -p target
	# The function binaries themselves: tests/e2e/invocations/ runs them under the Runtime API harness.
	cargo build --workspace --bins --quiet
	scripts/with-moto.sh cargo test --workspace 2>&1 | tee target/test-output.log
	scripts/with-postgres.sh $(MAKE) --no-print-directory postgres-suites 2>&1 | tee target/test-output-postgres.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' target/test-output.log target/test-output-postgres.log
	$(PY) scripts/contract_run.py

# The end-to-end suites again on Postgres: directly, then through pgbouncer in transaction-pooling mode (RDS Proxy's
# stand-in), then with customer data sharded over four databases (docs/sharding.md): the same suites, the same
# answers. A test that holds on some runs only says so in its first line (`only_on!`, with why), never here by name;
# docs/contributing.md lists what each run leaves out. `--workspace` with `--test e2e`: the features the first run
# resolved (the bench's among them), so nothing is built again.
postgres-suites: ## (inside scripts/with-postgres.sh) the end-to-end suites on Postgres: directly, through pgbouncer, and sharded
	STORE=postgres DATABASE_URL=$$POSTGRES_URL DATABASE_SETUP_URL=$$POSTGRES_URL cargo test --workspace --test e2e
	STORE=postgres DATABASE_URL=$$PGBOUNCER_URL DATABASE_SETUP_URL=$$POSTGRES_URL cargo test --workspace --test e2e
	STORE=postgres SHARDS=4 DATABASE_URL=$$POSTGRES_URL DATABASE_SETUP_URL=$$POSTGRES_URL cargo test --workspace --test e2e

contract: tools ## schemathesis against a fresh local server from /openapi.json (SEED=n, EXAMPLES=n for a deeper run)
	cargo build --quiet -p storefront-local --bins
	$(PY) scripts/contract_run.py $${SEED:+--seed $$SEED} $${EXAMPLES:+--max-examples $$EXAMPLES}

tools: $(STAMP) ## the project venv with the SAM CLI and cfn-lint

# Root installs directly; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

browser-tools: ## Debian's Chromium and ChromeDriver, and axe-core from npm, for the browser suite
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium chromium-driver; }
	@command -v npm >/dev/null || \
	  { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }
	@[ tests/browser/node_modules/.package-lock.json -nt tests/browser/package-lock.json ] || \
	  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

lint: ## formatting and clippy, warnings are errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

template-check: tools ## sam validate --lint and cfn-lint on template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml

screenshots: browser-tools ## the README's pictures (docs/screenshots/) taken again by the browser suite; a test run saves them under target/
	UPDATE_SCREENSHOTS=1 cargo test --workspace --test e2e -- browser::

unit: ## the library's unit tests only (fast)
	cargo test -p storefront

e2e: tools ## the end-to-end suites on DynamoDB only (binaries built first, moto for conformance); make test adds Postgres
	cargo build --workspace --bins --quiet
	scripts/with-moto.sh cargo test --workspace --test e2e

migrate: tools ## Backend=postgres: run a deployed stack's migration step again (STACK=<stack name>)
	$(VENV)/bin/sam remote invoke DbMigrateFunction --stack-name $${STACK:?set STACK to the stack name} --event '{}'

bench: browser-tools ## release build for this machine, then every benchmark beside its baseline (writes docs/benchmarks.md)
	mkdir -p target
	@start=$$(date +%s); cargo build --release --workspace --bins --quiet; \
	  echo "$$(( $$(date +%s) - start )) s on $$(date -u +%F)" > target/bench-build-time.txt; \
	  echo "release build: $$(cat target/bench-build-time.txt)"
	scripts/with-postgres.sh target/release/storefront-bench

# `make build RELEASE=check` (what CI runs) builds and packages the same arm64 functions the same way, on the release
# profile without its link-time optimisation and with parallel codegen: it proves the cross build and sam build in a
# third of the time. The shipped profile (fat LTO, one codegen unit: small binaries that start fast) stays the
# default, for make deploy and make bench. Cargo reads profile settings from the environment, so sam build's own
# `cargo lambda build` calls see the same profile and find everything built.
BUILD_TIME_FILE := target/lambda-build-time.txt
ifeq ($(RELEASE),check)
build: export CARGO_PROFILE_RELEASE_LTO := off
build: export CARGO_PROFILE_RELEASE_CODEGEN_UNITS := 16
BUILD_TIME_FILE := target/lambda-check-build-time.txt
endif

build: tools ## deployable artifacts: one arm64 release build of every function, then sam build packages each (RELEASE=check: without LTO, as CI)
	rustup target add aarch64-unknown-linux-gnu
	mkdir -p target
	@start=$$(date +%s); $(WITH_VENV) cargo lambda build --release --arm64; \
	  echo "$$(( $$(date +%s) - start )) s on $$(date -u +%F)" > $(BUILD_TIME_FILE); \
	  echo "cargo lambda build: $$(cat $(BUILD_TIME_FILE))"
	$(WITH_VENV) $(VENV)/bin/sam build --beta-features
	$(PY) scripts/artifact_sizes.py

invoke: ## one sample event through a function's own binary under the Runtime API harness: make invoke EVENT=get-product.ok
	cargo build --quiet -p $$(echo $(EVENT) | cut -d. -f1) -p storefront-local --bins
	target/debug/lambda-invoke events/apigw/$(EVENT).json

watch: tools ## one function under cargo lambda watch against a running `make dev`'s stand-ins: make watch FUNCTION=get-product
	mkdir -p target
	$(PY) scripts/watch_env.py $${FUNCTION:?set FUNCTION, e.g. get-product} > target/watch.env
	AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
	  $(WITH_VENV) cargo lambda watch --bin $(FUNCTION) --env-file target/watch.env

loadtest: tools ## Locust, headless: browse → cart → checkout against HOST (default: a running `make dev`)
	$(PY) -m pip install --quiet --disable-pip-version-check -r loadtest/requirements.txt
	$(VENV)/bin/locust -f loadtest/locustfile.py --headless --host $${HOST:-http://127.0.0.1:3000} \
	  --users $${USERS:-50} --spawn-rate $${SPAWN_RATE:-10} --run-time $${RUN_TIME:-60s} --only-summary

deploy: build ## build and deploy to AWS (asks before changing anything; samconfig.toml holds the answers), with the web assets
	# Assets first (pages never name one that is not there yet), and again once a new stack has its bucket.
	scripts/upload_assets.sh $${STACK:-storefront-dev}
	$(WITH_VENV) $(VENV)/bin/sam deploy --guided
	scripts/upload_assets.sh $${STACK:-storefront-dev}

clean:
	cargo clean
	rm -rf $(VENV) .aws-sam
