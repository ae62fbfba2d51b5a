# The two commands of the README: `make demo` and `make test`. Each sets up everything it
# needs on a fresh clone: a pinned uv in .tools/, then the locked environment in .venv/.
UV_VERSION := 0.13.8
UV := .tools/bin/uv
PYTHON ?= python3
PORT ?= 8000

.PHONY: demo test lint env

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

env: $(UV)
	$(UV) sync --frozen --quiet

demo: env
	.venv/bin/careloop serve --demo --port $(PORT)

lint: env
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/mypy --strict domain

# The suite on both cores (one file per worker at a time, the longest files first:
# tests/conftest.py), then the tests that need the machine to themselves (kill -9,
# PostgreSQL restarts), alone.
test: lint
	.venv/bin/pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not serial" --durations=15
	.venv/bin/pytest -m serial --durations=15
