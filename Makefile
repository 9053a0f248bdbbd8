# Two entry points: `make demo` and `make test`. Each installs on first use what it
# needs (Debian packages, then a .venv with the project installed editable) and is a
# no-op for that part when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
# python3-dev, gcc: evdev builds from source. libzbar0: pyzbar's decoder. libusb-1.0-0: nfcpy's USB readers. mosquitto: the broker
# the tests run on loopback.
# xvfb, xauth: a virtual screen for UI tests and headless demos. The GL/EGL/mtdev
# libraries are what Kivy's SDL2 window loads at run time. tesseract reads the
# screenshots back in UI tests, so they check what a shopper would actually see.
# postgresql: the hub's production store; its tests start a real server (as a non-root user).
# cage, systemd: the kiosk's service runs in cage; the tests verify the units (systemd-analyze).
# openssl: the TLS tests' throw-away certificates.
APT_PACKAGES := python3-venv python3-dev gcc libzbar0 libusb-1.0-0 mosquitto mosquitto-clients xvfb xauth \
	libgl1 libgl1-mesa-dri libegl1 libgles2 libmtdev1 tesseract-ocr tesseract-ocr-fra postgresql \
	cage systemd openssl
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck unit bench faults clean

demo: $(STAMPS)/venv
	@if [ -n "$$DISPLAY" ] || [ -n "$$WAYLAND_DISPLAY" ]; then \
		$(BIN)/borne demo --windowed --platform $(ARGS); \
	else \
		echo "No display found: running the kiosk on a virtual screen (xvfb-run)."; \
		xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/borne demo --windowed --platform $(ARGS); \
	fi

test: lint typecheck unit

lint: $(STAMPS)/venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMPS)/venv
	$(BIN)/mypy

# Two workers, one test file each at a time: the UI files' kiosks and OCR keep one core
# busy while the other file mostly waits on brokers, databases and subprocesses.
PYTEST_WORKERS ?= -n 2 --dist loadfile

unit: $(STAMPS)/venv
	$(BIN)/pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMPS)/venv
	$(BIN)/python -m benchmarks $(ARGS)

# A store's worst day (tests/faults/): each fault of the outbox's issue against a real
# mosquitto and real SQLite, a few minutes, one table. As root: it mounts a 2 MiB tmpfs.
# ARGS="--json faults.json" keeps the figures; its short form (--quick) runs in `make test`.
faults: $(STAMPS)/venv
	$(BIN)/python -m tests.faults $(ARGS)

$(STAMPS)/apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/venv: $(STAMPS)/apt pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) $(STAMPS) .mypy_cache .ruff_cache .pytest_cache .hypothesis
