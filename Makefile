# Onshore: two commands from a fresh clone.
#   make run    set up (venv, install, compile) and run the main job
#   make test   set up and run lint, types, import contracts and the whole test suite

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INSTALLED := $(VENV)/.installed
COMPILED_MODULES := onshore/book/records.py onshore/book/events.py onshore/book/book.py \
	onshore/clearing/accounts.py onshore/clearing/margin.py onshore/clearing/ledger.py \
	onshore/venue/codec.py onshore/venue/venue.py
COMPILED_SRC := $(addprefix src/,$(COMPILED_MODULES))
COMPILED := src/.compiled

.PHONY: run test test-slow setup build lint types contracts unit bench clean

run: $(COMPILED)
	$(BIN)/onshore stress --out out/study

test: $(COMPILED) lint types contracts unit

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# The hot modules (book, clearing, venue) are compiled with mypyc (part of mypy).
# Without a C compiler the same source runs as plain Python, only slower.
build: $(COMPILED)

$(COMPILED): $(INSTALLED) $(COMPILED_SRC)
	rm -f src/onshore/*/*.so src/*__mypyc*.so
	cd src && ../$(BIN)/mypyc --config-file= --strict $(COMPILED_MODULES) > ../.mypyc.log 2>&1 \
		|| { echo "mypyc could not compile the hot modules (see .mypyc.log): using pure Python"; \
		     rm -f onshore/*/*.so *__mypyc*.so; }
	find src -name '*.so' -exec touch {} +
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(INSTALLED)
	$(BIN)/mypy

contracts: $(INSTALLED)
	$(BIN)/lint-imports

unit: $(COMPILED)
	$(BIN)/pytest -n 2 -p no:cacheprovider -m "not slow"

# The long variants (more SIGKILLs, longer random streams): not part of make test's ten minutes.
test-slow: $(COMPILED)
	$(BIN)/pytest -n 2 -p no:cacheprovider -m slow

bench: $(COMPILED)
	$(BIN)/python bench/book.py

clean:
	rm -rf $(VENV) src/build src/.compiled src/onshore/*/*.so src/*__mypyc*.so .mypyc.log
