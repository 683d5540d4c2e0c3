# The two commands a newcomer needs: `make run` and `make test`. Both create or reuse .venv.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Daphne's own cap on a websocket message: above the 64 KiB signaling limit so that an
# oversized chat or SDP frame gets a readable error frame, not a bare close (docs/protocol.md).
DAPHNE_MAX_MESSAGE ?= 131072

.PHONY: run test lint format venv clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: venv
	@mkdir -p "$${HEARTH_VAR_DIR:-var}"
	$(BIN)/python manage.py migrate --noinput
	HEARTH_SEED_DEMO=1 $(BIN)/python manage.py seed_demo
	@$(BIN)/python manage.py demo_banner --port $(PORT)
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) \
		--websocket-max-message-size $(DAPHNE_MAX_MESSAGE) \
		--proxy-headers config.asgi:application

# The whole suite against real PostgreSQL and real Redis (defaults: the local servers).
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/hearth
test: export REDIS_URL ?= redis://127.0.0.1:6379/0
# Pooled connections would outlive each test and keep the test database from being dropped;
# the daphne children of the integration tests get the production value back (server_env).
test: export DATABASE_POOL_SIZE ?= 0
test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
