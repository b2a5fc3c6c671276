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

.PHONY: help dev test tools lint template-check unit e2e bench-checkout build invoke deploy clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

dev: ## run the whole storefront locally on http://127.0.0.1:$${PORT:-3000} (data in $${DATA_DIR:-.storefront})
	cargo run -p storefront-local

test: tools lint template-check ## install what the tests need, then run every check and test
	mkdir -p target
	# The function binaries themselves: tests/e2e/invocations.rs runs them under the Runtime API harness.
	cargo build --workspace --bins --quiet
	STOREFRONT_REQUIRE_BINARIES=1 scripts/with-moto.sh cargo test --workspace 2>&1 | tee target/test-output.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' target/test-output.log

tools: $(STAMP) ## the project venv with the SAM CLI and cfn-lint

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

unit: ## the library's unit tests only (fast)
	cargo test -p storefront

e2e: tools ## the end-to-end suites only (with moto for the conformance suite)
	scripts/with-moto.sh cargo test -p storefront-tests

bench-checkout: ## checkout throughput on one hot product against the local server, with the oversell check
	cargo run -q -p storefront-tests --example hot_checkout

build: ## release Lambda artifacts for arm64 (slow: see docs/deploy.md)
	sam build --beta-features

invoke: ## run one sample event through a handler: make invoke FUNCTION=get-product EVENT=get-product.ok
	cargo lambda invoke $(FUNCTION) --data-file events/apigw/$(EVENT).json

deploy: ## build and deploy to AWS (asks before changing anything)
	sam build --beta-features && sam deploy --guided

clean:
	cargo clean
	rm -rf $(VENV) .aws-sam
