# Everything needed is installed on demand: Debian packages (scripts/install-system-deps),
# the Python venv (.venv, from Debian's /usr/bin/python3) and a working criu
# (`zdtm provision`: Debian's newest criu in a private prefix under the cache dir).

VENV      ?= .venv
SYSPYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
BIN       := $(VENV)/bin
JOBS      ?= auto

.PHONY: all setup criu check zdtm test upstream bench clean distclean

all: zdtm

$(BIN)/.installed: pyproject.toml scripts/install-system-deps
	./scripts/install-system-deps
	test -x $(BIN)/python || $(SYSPYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[test]"
	touch $@

setup: $(BIN)/.installed

criu: setup
	$(BIN)/zdtm provision

check: criu
	$(BIN)/zdtm check

# The main job: set up if needed, check the machine, run the whole suite in parallel.
zdtm: check
	$(BIN)/pytest -n $(JOBS) -rfEs zdtm

# The harness's own tests.
test: criu
	./scripts/install-system-deps --test
	$(BIN)/pytest -n 2 -rfEs selftests

# Upstream's own ZDTM tests (test/zdtm of the provisioned criu's source, or
# UPSTREAM=~/criu) through this harness, every flavor. Their build needs a few
# -dev packages; `zdtm provision --source` also brings pycriu/crit for their hooks.
upstream: check
	./scripts/install-system-deps --upstream
	$(BIN)/zdtm run -p $(JOBS) -T '^upstream/' --upstream "$${UPSTREAM:-$$($(BIN)/zdtm provision --source)}"

bench: criu
	$(BIN)/zdtm bench

clean: setup
	$(BIN)/zdtm clean

distclean:
	-test -x $(BIN)/zdtm && $(BIN)/zdtm clean --all
	rm -rf $(VENV)
