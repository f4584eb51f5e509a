# Two entry points for a newcomer: `make deploy` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
INVENTORY ?= inventory/local
# fast: lint + syntax + unit tests. full: fast + integration + molecule (CI).
TIER ?= full
PYTEST_ARGS ?=
# The unit tests run on this many processes (pytest-xdist), a test file per
# process: they share no server, and on 2 cores they take 2 min instead of 3.4.
UNIT_WORKERS ?= 2
# Extra ansible-playbook arguments of `make deploy`, e.g. -e deploy_full=true.
DEPLOY_ARGS ?=

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0

PLAYBOOKS := $(wildcard playbooks/*.yml playbooks/runbook/*.yml tests/playbooks/*.yml)

.PHONY: deploy test preflight venv docker-host images test-host lint syntax unit full-tests clean-venv

# site.yml prepares the Docker host, obtains the images and deploys.
deploy: venv
	@echo "== deploy: playbooks/site.yml on $(INVENTORY) (Docker host, images, stack; each task is shown)"
	ansible-playbook -i $(INVENTORY) playbooks/site.yml $(DEPLOY_ARGS)

preflight:
	@scripts/host-preflight.sh

venv: preflight $(VENV)/.installed

$(VENV)/.installed: requirements.txt $(wildcard crawler/pyproject.toml) scripts/bootstrap-venv.sh
	@echo "== venv: $(VENV) with the pinned requirements"
	scripts/bootstrap-venv.sh $(VENV)
	touch $@

docker-host: venv
	ansible-playbook -i $(INVENTORY) playbooks/docker_host.yml

images: docker-host
	ansible-playbook -i $(INVENTORY) playbooks/images.yml

# Everything the integration tests start for real: the deployed stack,
# FerretDB, Chromium, the Selenium jar, promtool, an S3-compatible server.
test-host: deploy
	@echo "== test-host: tests/playbooks/test_host.yml (browser, promtool, S3 server, Airflow venv)"
	ansible-playbook -i $(INVENTORY) tests/playbooks/test_host.yml

lint: venv
	@echo "== tier: lint"
	ruff check .
	ruff format --check .
	yamllint --strict .
	ansible-lint --profile production --offline
	@echo "== tier: lint passed"

syntax: venv
	@echo "== tier: syntax-check ($(words $(PLAYBOOKS)) playbooks)"
	@for p in $(PLAYBOOKS); do echo "   $$p"; ansible-playbook -i $(INVENTORY) --syntax-check "$$p" >/dev/null || { echo "syntax error in $$p"; exit 1; }; done
	@echo "== tier: syntax-check passed"

unit: venv
	@echo "== tier: unit"
	pytest -q -n $(UNIT_WORKERS) --dist loadfile tests/unit $(PYTEST_ARGS)

ifeq ($(TIER),fast)
test: lint syntax unit
else ifeq ($(TIER),full)
test: lint syntax unit test-host
	@echo "== tier: integration + molecule"
	pytest -q -ra --durations=25 tests --ignore=tests/unit $(PYTEST_ARGS)
else
test:
	@echo "TIER must be fast or full (got '$(TIER)')" >&2; exit 2
endif
