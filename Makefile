# The two commands a newcomer runs:  make demo   and   make test
# Each makes its own virtualenv (.venv) and installs what it needs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench test-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# bytecode now, as a wheel install does: with PYTHONDONTWRITEBYTECODE set (as on this
	# project's machines) every tool run and every stack would compile its sources again
	$(PY) -m compileall -q plebconf plebnet_core plebproto pleblab
	touch $@

demo: $(STAMP)
	$(PY) demo.py

# Debian packages the tests use as real peers and readers (root only; CI runs as root)
test-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  for p in iputils-ping:ping traceroute:traceroute tcpdump:tcpdump iproute2:ip radvd:radvd dnsmasq-base:dnsmasq; do \
	    command -v $${p#*:} >/dev/null || missing="$$missing $${p%%:*}"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	fi

# lint and types first (seconds), then the suite
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy plebproto plebnet_core/state

test: $(STAMP) test-deps lint
	$(PY) -m pytest tests examples

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) *.egg-info
