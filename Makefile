# Everything needed is installed on demand: Debian packages (scripts/install-system-deps),
# the Python venv (.venv, from Debian's /usr/bin/python3) and a working criu
# (`zdtm provision`: Debian's newest criu in a private prefix under the cache dir).

VENV      ?= .venv
SYSPYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
BIN       := $(VENV)/bin
JOBS      ?= auto

.PHONY: all setup criu check zdtm test upstream bench matrix clean distclean

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

# The smoke selection (desc/smoke.yaml) in h, ns and uns on the kernels of
# desc/kernels.yaml (Debian's 6.1, 6.12 and newest, fetched and cached; and
# this host's), each in a qemu guest, in parallel; one merged report.
# MATRIX_ARGS="--kernel 6.1 -t static/pipe00" for others.
matrix: criu
	./scripts/install-system-deps --matrix
	$(BIN)/zdtm matrix $(MATRIX_ARGS)

clean: setup
	$(BIN)/zdtm clean

distclean:
	-test -x $(BIN)/zdtm && $(BIN)/zdtm clean --all
	rm -rf $(VENV)
