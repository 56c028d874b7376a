# Entry points (see README): `make demo`, `make test`, `make deploy`. Each sets up what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CDK := node_modules/.bin/cdk
# The project template's tests run in their own environment: the SageMaker SDK and its dependencies
# (about 1 GB) are pinned by the template, for the projects it creates, not by the platform.
TEMPLATE := project_templates/tabular-xgboost
TEMPLATE_VENV := $(TEMPLATE)/.venv

# jsii prints a banner on every start because Node 20 left its support window; the CDK itself still
# runs on Node 20, so this silences that one banner only (errors and other warnings still show).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
# The CDK CLI's usage telemetry would try to reach the internet from an offline machine.
export CDK_DISABLE_CLI_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: synth test demo demo-advanced deploy template-test measure-synth measure-test clean

synth: $(VENV)/.app-installed node_modules/.installed
	rm -rf cdk.out
	$(CDK) synth --quiet

# The platform's tests synthesize the app themselves (the same app and context as `make synth`, cdk-nag
# included) and run cfn-lint over it (tests/test_cfn_lint.py), on two workers; the template's tests run
# beside them. Both always finish, and the target fails if either failed. On a fresh clone the two
# environments install side by side (one pip each, on the two cores).
test:
	$(MAKE) --no-print-directory -j2 $(VENV)/.dev-installed $(TEMPLATE_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory template-test > .template-test.log 2>&1 & template=$$!; \
	$(BIN)/pytest -n 2 --dist loadfile; platform=$$?; \
	wait $$template; template_status=$$?; cat .template-test.log; rm -f .template-test.log; \
	test $$platform -eq 0 -a $$template_status -eq 0

# The promotion flow offline: three moto accounts stood up from cdk.out, the real handlers (see demo/).
demo: synth $(VENV)/.dev-installed
	$(BIN)/python -m demo

# The advanced scenario's story (a challenger in shadow, compared, promoted on evidence): the app
# synthesized with platform.scenario=advanced into cdk.out/advanced, then `python -m demo --advanced`.
demo-advanced: $(VENV)/.app-installed node_modules/.installed $(VENV)/.dev-installed
	rm -rf cdk.out/advanced
	$(CDK) synth --quiet -c platform.scenario=advanced --output cdk.out/advanced
	$(BIN)/python -m demo --advanced

# Real accounts: checks the configuration (no placeholder accounts) and the dev account's credentials, then
# runs `cdk deploy --all`. `make deploy ARGS="--config-file acme.json"`; add --dry-run to print the command only.
deploy: $(VENV)/.app-installed node_modules/.installed
	$(BIN)/python scripts/deploy.py $(ARGS)

template-test: $(TEMPLATE_VENV)/.installed
	cd $(TEMPLATE) && .venv/bin/pytest

measure-synth: $(VENV)/.app-installed node_modules/.installed
	$(BIN)/python scripts/measure_synth.py

# `make test` once installed: a warm-up, then the median of three runs (docs/development.md).
measure-test: $(VENV)/.dev-installed $(TEMPLATE_VENV)/.installed
	$(BIN)/python scripts/measure_test.py

$(VENV)/.app-installed: requirements.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

# --no-compile: the tests import a small part of the SDK, so compiling all of it is wasted; on the 2-core
# machine it halves the install (58 s instead of 102 s with an empty pip cache) for 7 s more on the
# first test run, which compiles what it imports.
$(TEMPLATE_VENV)/.installed: $(TEMPLATE)/requirements.txt $(TEMPLATE)/requirements-test.txt $(TEMPLATE)/constraints.txt
	test -x $(TEMPLATE_VENV)/bin/python || $(PYTHON) -m venv $(TEMPLATE_VENV)
	$(TEMPLATE_VENV)/bin/pip install --quiet --no-compile -r $(TEMPLATE)/requirements-test.txt -c $(TEMPLATE)/constraints.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf cdk.out $(VENV) $(TEMPLATE_VENV) node_modules .pytest_cache .ruff_cache
