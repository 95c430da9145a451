# Shequ 社区 — the only entry points. `make run` starts the platform, `make test` proves it.
# Everything a target needs is installed by the target itself (uv, Python packages, buf, Kafka,
# Keycloak, PostgreSQL, helm); the machine needs Python 3.11, Maven, Node.js and Go (Java is optional).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --no-sync
export UV_PYTHON := 3.11
export UV_PYTHON_DOWNLOADS := never
# Our processes fork servers while gRPC runs; its fork handlers can abort a child (see
# shequ_infra.pytest_plugin).
export GRPC_ENABLE_FORK_SUPPORT := false

PROTOS := $(shell find proto/shequ -name '*.proto')
PROTO_STAMP := proto/src/shequ/.generated
SYNC_STAMP := $(VENV)/.synced
BUF_STAMP := proto/node_modules/.installed
# The web console (Vue 3 + Element Plus + ECharts, built by Vite), served by the gateway at /console.
CONSOLE := gateway/console
CONSOLE_DEPS := $(CONSOLE)/node_modules/.installed
CONSOLE_BUILD := $(CONSOLE)/dist/index.html
# The console's API types, generated from the gateway's OpenAPI document: a renamed field fails
# the console's type check instead of a page at run time.
CONSOLE_SCHEMA := $(CONSOLE)/src/schema.d.ts
GATEWAY_SOURCES := $(shell find gateway/src -name '*.py')
CONSOLE_SOURCES := $(shell find $(CONSOLE)/src -type f -not -name schema.d.ts) $(addprefix $(CONSOLE)/,index.html vite.config.ts tsconfig.json)
# The browser tests drive Debian's Chromium (Playwright's own browser download cannot be reached);
# the Noto CJK fonts make the Chinese in their screenshots legible.
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
PYPROJECTS := pyproject.toml $(wildcard kit/pyproject.toml proto/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml deploy/local/pyproject.toml deploy/check/pyproject.toml cli/pyproject.toml)
# Type-checked one by one: each member's tests live in a `tests` tree of their own.
TYPED := kit services/census services/grid services/cases services/notify gateway deploy/local deploy/check cli tests bench proto/generate.py
# helm renders the Kubernetes chart (make deploy-check); built once from the Go module proxy.
HELM_VERSION := v3.21.4
HELM := $(TOOLS)/bin/helm
HELM_STAMP := $(TOOLS)/.helm-$(HELM_VERSION)

.PHONY: help run test unit integration browser lint proto console bench soak fetch clean deploy-check

help:
	@echo "make run    start the whole platform locally (PostgreSQL, Kafka, Keycloak, …) and print where to log in"
	@echo "make test   install everything needed, lint, then run unit and integration tests"
	@echo "make bench  print the benchmark table and write it to bench/results/latest.md and .json (ONLY=\"cases\" for chosen groups)"
	@echo "make soak   the mixed workload for 10 minutes (SOAK_SECONDS=…): errors and memory growth per process, bench/results/soak.md"
	@echo "make proto  regenerate the Python bindings from proto/"
	@echo "make lint   ruff, mypy, buf lint and the console's type check"
	@echo "make console build the web console (also done by make run and make test)"
	@echo "make deploy-check  check the Dockerfile and the Helm chart (rendered, schema-validated, policies)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(SYNC_STAMP): $(UV) uv.lock $(PYPROJECTS)
	$(UV) sync --frozen --all-packages
	touch $@

$(PROTO_STAMP): $(SYNC_STAMP) $(PROTOS) proto/generate.py
	$(RUN) python proto/generate.py
	touch $@

$(BUF_STAMP): proto/package.json proto/package-lock.json
	# `npm ci` would refuse this lock: the registry here serves only some platforms' optional
	# buf binaries. `npm install` honours the committed lock and leaves it unchanged.
	cd proto && npm install --no-audit --no-fund --loglevel=error
	touch $@

proto: $(PROTO_STAMP)

$(CONSOLE_DEPS): $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CONSOLE_SCHEMA): $(PROTO_STAMP) $(CONSOLE_DEPS) $(GATEWAY_SOURCES)
	$(RUN) python -m gateway openapi > $(CONSOLE)/openapi.json
	cd $(CONSOLE) && node_modules/.bin/openapi-typescript openapi.json -o src/schema.d.ts --silent

# vue-tsc type-checks every page before Vite bundles it.
$(CONSOLE_BUILD): $(CONSOLE_SCHEMA) $(CONSOLE_SOURCES)
	cd $(CONSOLE) && npm run build

console: $(CONSOLE_BUILD)

$(CHROMIUM) $(CJK_FONT):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium and fonts-noto-cjk: sudo apt-get install -y chromium fonts-noto-cjk" >&2; exit 1; \
	fi

lint: $(PROTO_STAMP) $(BUF_STAMP) $(CONSOLE_SCHEMA)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	for target in $(TYPED); do $(RUN) mypy "$$target"; done
	cd proto && node_modules/.bin/buf lint
	cd $(CONSOLE) && npm run typecheck --silent

unit: $(PROTO_STAMP) $(CONSOLE_DEPS) $(HELM_STAMP)
	$(RUN) pytest -m "not integration"
	cd $(CONSOLE) && npm test --silent

# The platform tests seed the services' own databases and topics as `make run` does; the service
# tests use those too, so each group gets fresh infrastructure of its own.
# The fault tests stop and restart infrastructure and processes: each of their modules starts
# its own infrastructure and platform, so they run in a session apart (tests/faults/).
integration: $(PROTO_STAMP)
	$(RUN) pytest -m "integration and not platform"
	$(RUN) pytest -m "platform and not browser and not faults"
	$(RUN) pytest -m faults

# The console in headless Chromium against the whole platform; screenshots land in
# artifacts/screenshots/ (the README's tour links them).
browser: $(PROTO_STAMP) $(CONSOLE_BUILD) $(CHROMIUM) $(CJK_FONT)
	$(RUN) pytest -m browser

# The images and the chart without a Docker engine or a cluster: the Dockerfile parsed and held
# to the code's run modes, the chart linted and rendered with default, production and operator
# values, every manifest validated against the Kubernetes schemas offline, and our policies.
deploy-check: $(PROTO_STAMP) $(HELM_STAMP)
	$(RUN) python -m shequ_deploycheck check --helm $(HELM)

# Compiled once (a few minutes), niced.
$(HELM_STAMP): | $(UV)
	GOBIN="$(abspath $(TOOLS)/bin)" GOFLAGS=-buildvcs=false nice go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	touch $@

test: lint deploy-check unit integration browser

run: $(PROTO_STAMP) $(CONSOLE_BUILD)
	$(RUN) shequ-local run

fetch: $(SYNC_STAMP)
	$(RUN) shequ-local fetch

# ONLY="cases grid" runs just those groups (written to bench/results/partial.*, not latest.*).
bench: $(PROTO_STAMP)
	$(RUN) python -m bench $(ONLY)

# Not part of `make test`: ten minutes of residents browsing, cases flowing and notices fanning
# out, judged on errors (none) and each platform process's memory growth after the warm-up
# (< 10 %); exits 1 when a target is missed.
SOAK_SECONDS ?= 600
soak: $(PROTO_STAMP)
	SOAK_SECONDS=$(SOAK_SECONDS) $(RUN) python -m bench.soak

clean:
	rm -rf $(VENV) $(TOOLS) proto/node_modules $(CONSOLE)/node_modules $(CONSOLE)/dist $(CONSOLE_SCHEMA) $(CONSOLE)/openapi.json .mypy_cache .ruff_cache .pytest_cache
	find proto/src/shequ -mindepth 1 -not -name __init__.py -not -name py.typed -delete
