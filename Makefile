# The front door. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
CC ?= cc
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CFLAGS_STRICT := -std=c99 -O2 -Wall -Wextra -Werror -pedantic

ZOO_VENV := .venv-zoo
ZOO_DIR ?= build/zoo

.PHONY: setup demo test test-slow test-all zoo keras-env clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(STAMP)

# Compile the bundled digits BNN to C, build it with the system compiler, run it
# on all 1797 digits and compare with onnxruntime.
demo: setup
	$(BIN)/bnncompile compile examples/digits/digits_bnn.onnx -o build/digits --name digits --force
	$(CC) $(CFLAGS_STRICT) -Ibuild/digits build/digits/digits.c examples/digits/main.c -o build/digits/digits_demo -lm
	$(BIN)/python examples/digits/demo.py examples/digits/digits_bnn.onnx build/digits/digits_demo
	$(BIN)/bnncompile verify examples/digits/digits_bnn.onnx --samples 200

test: setup
	$(BIN)/python -m pytest -q

# The slow tier: 224x224 larq-zoo models (exported by `make zoo`), long fuzzing, and the
# Keras front door (bnncompile[keras] installed into the TensorFlow venv).
test-slow: setup zoo keras-env
	BNN_ZOO_DIR=$(ZOO_DIR) BNN_KERAS_PYTHON=$(ZOO_VENV)/bin/python $(BIN)/python -m pytest -q -m slow

# TensorFlow, tf-keras, Larq and tf2onnx in their own venv (pins in benchmarks/zoo/requirements.txt).
ZOO_STAMP := $(ZOO_VENV)/.installed
$(ZOO_STAMP): benchmarks/zoo/requirements.txt
	$(PYTHON) -m venv $(ZOO_VENV)
	$(ZOO_VENV)/bin/pip install --quiet -r benchmarks/zoo/requirements.txt
	$(ZOO_VENV)/bin/pip install --quiet --no-deps larq-zoo==2.4.0 zookeeper==1.4.0
	touch $@

# Export the larq-zoo models with random batchnorm to $(ZOO_DIR).
zoo: $(ZOO_DIR)/.exported

$(ZOO_DIR)/.exported: benchmarks/zoo/make_zoo.py benchmarks/zoo/requirements.txt | $(ZOO_STAMP)
	$(ZOO_VENV)/bin/python benchmarks/zoo/make_zoo.py $(ZOO_DIR)
	touch $@

# bnncompile[keras] as a Larq user installs it, in the TensorFlow venv.
KERAS_STAMP := $(ZOO_VENV)/.bnncompile
keras-env: $(KERAS_STAMP)

$(KERAS_STAMP): $(ZOO_STAMP) pyproject.toml
	$(ZOO_VENV)/bin/pip install --quiet -e '.[keras]'
	touch $@

test-all: setup
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf build .pytest_cache .hypothesis $(ZOO_VENV)
