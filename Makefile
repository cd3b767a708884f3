# The front door. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
CC ?= cc
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CFLAGS_STRICT := -std=c99 -O2 -Wall -Wextra -Werror -pedantic

.PHONY: setup demo test test-slow test-all clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(STAMP)

# Compile the bundled digits BNN to C, build it with the system compiler, run it
# on all 1797 digits and compare with onnxruntime.
demo: setup
	$(BIN)/bnncompile compile examples/digits/digits_bnn.onnx -o build/digits --name digits
	$(CC) $(CFLAGS_STRICT) -Ibuild/digits build/digits/digits.c examples/digits/main.c -o build/digits/digits_demo -lm
	$(BIN)/python examples/digits/demo.py examples/digits/digits_bnn.onnx build/digits/digits_demo
	$(BIN)/bnncompile verify examples/digits/digits_bnn.onnx --samples 200

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

test-all: setup
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf build .pytest_cache .hypothesis
