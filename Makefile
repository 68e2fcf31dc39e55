# Two commands do all the set-up: `make run` (the whole series) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
COLAB_VENV ?= .venv-colab
COLAB_PY := $(COLAB_VENV)/bin/python
COLAB_STAMP := $(COLAB_VENV)/.installed
PROFILE ?= demo

.PHONY: setup data run quick test test-browser test-colab lab lint bench bench-fashion-mnist clean clean-cache

setup: $(STAMP)

# The venv with the locked stack (constraints.txt): this package, editable, with its test tools;
# a Jupyter kernel inside the venv (papermill, nbmake) and one for your user (any other Jupyter).
$(STAMP): constraints.txt requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (clothing)" >/dev/null
	$(PY) -m ipykernel install --user --name clothing-classifier \
	  --display-name "Python 3 (clothing-classifier)" >/dev/null \
	  || echo "note: no user-level Jupyter kernel (home folder not writable); the venv's own works"
	touch $@

# A second venv pinned to Google Colab's own versions (constraints-colab.txt).
$(COLAB_STAMP): constraints-colab.txt pyproject.toml
	$(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_PY) -m pip install -q --upgrade pip
	$(COLAB_PY) -m pip install -q -c constraints-colab.txt -e ".[dev]"
	$(COLAB_PY) -m ipykernel install --sys-prefix --name python3 \
	  --display-name "Python 3 (clothing, Colab versions)" >/dev/null
	touch $@

# Fashion-MNIST: found locally, else the Debian/Ubuntu package through apt, else Keras' download,
# else a message saying where to put the four .gz files.
data: $(STAMP)
	@$(PY) -m helpers.data.fashion_mnist --no-download 2>/dev/null || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing the Debian package dataset-fashion-mnist ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
	      || echo "apt-get could not install dataset-fashion-mnist; trying Keras' download"; \
	  fi; \
	  $(PY) -m helpers.data.fashion_mnist; }

run: data
	$(PY) -m helpers.series --profile $(PROFILE) $(SERIES_ARGS)

quick: PROFILE = quick
quick: run

# Unit tests, then every notebook under nbmake on the quick profile, in a fresh run folder
# (nothing from an earlier run is resumed or reused).
test: data
	CLOTHING_PROFILE=quick $(PY) -m pytest tests
	rm -rf runs/nbmake
	CLOTHING_PROFILE=quick CLOTHING_RUN_DIR=$(CURDIR)/runs/nbmake $(PY) -m pytest --nbmake --nbmake-timeout=1800 notebooks

# Every notebook in JupyterLab in Debian's Chromium (Playwright, never a browser download) on a
# quick run folder the series makes first; the explorer driven; screenshots in runs/browser/screenshots.
BROWSER_RUN ?= $(CURDIR)/runs/browser
test-browser: data
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else echo "make test-browser needs Chromium at /usr/bin/chromium (apt-get install chromium)"; exit 1; fi; }
	$(PY) -m pip install -q -c constraints.txt -e ".[lab]"
	rm -rf $(BROWSER_RUN)
	@# make test's quick run folder, when complete, saves the series most of its work (its
	@# artifacts stay current: only the folder differs); else the series makes everything.
	@if [ -f runs/nbmake/summary.md ]; then cp -r runs/nbmake $(BROWSER_RUN); fi
	CLOTHING_PROFILE=quick timeout 420 $(PY) -m helpers.series --profile quick -p run_dir $(BROWSER_RUN) --timeout 300
	CLOTHING_PROFILE=quick CLOTHING_RUN_DIR=$(BROWSER_RUN) timeout 600 $(PY) -m pytest -q -p no:cacheprovider tests/browser

# Every notebook again, under Colab's versions of TensorFlow, Keras, ipywidgets, ipykernel,
# jupyter_client, pandas and numpy.
test-colab: data $(COLAB_STAMP)
	rm -rf runs/nbmake-colab
	CLOTHING_PROFILE=quick CLOTHING_RUN_DIR=$(CURDIR)/runs/nbmake-colab $(COLAB_PY) -m pytest --nbmake --nbmake-timeout=1800 notebooks

# JupyterLab on the notebooks, with the project's kernel (Jupyter refuses root without --allow-root).
lab: data
	$(PY) -m pip install -q -c constraints.txt -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Quick benchmarks (minutes): loaders, and every optimised variant of a Fashion-MNIST model.
bench: data
	$(PY) bench/loading.py
	$(PY) bench/inference.py --train fashion_cnn --epochs 3

# The Fashion-MNIST model benchmark: trains every seed model and ours (hours on 2 CPU cores).
bench-fashion-mnist: data
	$(PY) bench/fashion_mnist.py

clean:
	rm -rf runs .pytest_cache

# Decoded-image disk caches ($$CLOTHING_CACHE_DIR, else data/cache): rebuilt when needed.
clean-cache:
	rm -rf "$${CLOTHING_CACHE_DIR:-data/cache}"
