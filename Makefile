# tinytx: build the book, run the tests, refresh notebook outputs.
#
#   make book      strict Jupyter Book build -> _build/html/index.html (works offline)
#   make test      unit tests + nbval on every notebook, then nbval again as "another
#                  machine" (one thread, portable CPU kernels) + strict book build
#                  + the rendered book driven in headless Chromium
#   make student   the student edition: student/tinytx-student/ and its .zip
#                  (REF=v0.1.0 pins the tinytx it installs; default: this commit)
#   make bench     the benchmarks (python -m tinytx.bench); needs TINYTX_DATA
#   make test-gpu  tests/gpu, then nbval on every notebook on CUDA (TINYTX_DEVICE=cuda)
#   make test-determinism  every notebook executed twice; outputs must match
#   make lab       JupyterLab on notebooks/
#   make execute   re-run notebooks in place (NB=notebooks/05_softmax.ipynb for one)
#
# Every target but student first makes .venv (created on first use, reinstalled when
# requirements.txt or pyproject.toml change). TINYTX_DATA, if set in the
# environment, reaches the tests and notebook kernels unchanged.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tinytx-installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NB ?= $(NOTEBOOKS)

# The committed outputs are produced (make execute) and checked (nbval) with the
# same hash seed, so nothing that depends on set or dict-of-str order can drift.
export PYTHONHASHSEED := 0
# ipykernel picks the inline matplotlib backend only when MPLBACKEND is unset;
# an inherited MPLBACKEND=Agg would make every plt.show() print nothing and
# fail nbval. Outside a kernel matplotlib falls back to Agg on its own.
unexport MPLBACKEND

# nbval with the sanitizer and the tiers plugin (tests/nbval_tiers.py), so approximate
# cells compare within their tolerance. pyproject.toml's addopts load the plugin too;
# naming it here keeps it in runs that drop addopts (-o addopts="", as on the GPU).
# The slowest cell takes about 3.5 minutes on one thread; a kernel that stops answering
# (seen with ipykernel 7) then fails its cell after 10 minutes, not nbval's 33.
NBVAL := -p nbval_tiers --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	--nbval-cell-timeout=600
# "Another machine": one thread and PyTorch's portable (non-AVX) CPU kernels split and
# round float sums differently from the machine that executed the notebooks, as a
# student's laptop or a CI runner would. The committed outputs must pass there too.
OTHER_MACHINE := OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=default
BOOK_BUILD := $(BIN)/jupyter-book build . -W -n --keep-going --all
# The JavaScript the book serves itself (widgets, maths), from npm at the versions
# package-lock.json pins; _config.yml points the build at these copies, not at CDNs.
ASSETS := _build/assets/vendor
ASSETS_STAMP := _build/assets/.installed
# The pretrained GPT in the format the book's model widgets read (tinytx.teach.export).
PAGE_MODEL := _build/assets/models/shakespeare-char.bin
# Debian's Chromium drives the browser test (never a tool's own browser download).
CHROMIUM ?= /usr/bin/chromium
BROWSER_TEST := CHROMIUM=$(CHROMIUM) $(BIN)/pytest tests/browser -q

.PHONY: venv .venv test test-gpu test-determinism book browser-test chromium bench lab execute student clean

venv .venv: $(STAMP)

# torch is installed first and by exact version: pip's find-links holds the CPU
# wheel of 2.13.0, and an unpinned torch would pull a newer CUDA build instead.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The widget manager finds its fonts at <data-jupyter-widgets-cdn>/@jupyter-widgets/
# html-manager/dist/, so its files keep npm's layout under vendor/.
$(ASSETS_STAMP): package.json package-lock.json Makefile
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(ASSETS) && mkdir -p $(ASSETS)/@jupyter-widgets/html-manager/dist $(ASSETS)/requirejs
	cp node_modules/requirejs/require.js $(ASSETS)/requirejs/
	cp node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js \
		node_modules/@jupyter-widgets/html-manager/dist/*.{woff,woff2,ttf,eot,svg} \
		$(ASSETS)/@jupyter-widgets/html-manager/dist/
	mkdir -p $(ASSETS)/anywidget && cp node_modules/anywidget/dist/index.js $(ASSETS)/anywidget/
	cp -r node_modules/mathjax/es5 $(ASSETS)/mathjax
	cp node_modules/mathjax/LICENSE $(ASSETS)/mathjax/
	touch $@

$(PAGE_MODEL): tinytx/shakespeare-char.pt tinytx/teach/export.py $(STAMP)
	$(BIN)/python -m tinytx.teach.export $(dir $@)

# Unit tests and nbval first, nbval again as another machine; the book is built and
# driven in a browser after them.
test: $(STAMP) $(ASSETS_STAMP) $(PAGE_MODEL) chromium
	$(BIN)/pytest tests $(wildcard notebooks) $(NBVAL) --ignore=tests/browser --ignore=tests/determinism \
		--ignore=tests/gpu
	$(OTHER_MACHINE) $(BIN)/pytest $(wildcard notebooks) $(NBVAL) -q
	$(BOOK_BUILD)
	$(BROWSER_TEST)

book: $(STAMP) $(ASSETS_STAMP) $(PAGE_MODEL)
	$(BOOK_BUILD)
	@echo "Book written to _build/html/index.html (serve it: python -m http.server -d _build/html)"

# The built book in headless Chromium, offline; screenshots land in _build/screenshots/.
browser-test: book chromium
	$(BROWSER_TEST)

# Installs Debian's chromium when it is missing (as root, or through sudo).
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
		echo "Chromium not found at $(CHROMIUM): install Debian's (apt-get install chromium) or set CHROMIUM=/path"; exit 1; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium

# Jupyter refuses to start as root (containers, some lab machines) unless told.
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# A fresh kernel per notebook, top to bottom; widget state is stored so the
# rendered book can show the widgets; no per-cell timing metadata, so a re-run
# that changes nothing leaves the file unchanged.
execute: $(STAMP)
	@test -n "$(strip $(NB))" || { echo "no notebooks to execute"; exit 1; }
	for nb in $(NB); do \
		echo "executing $$nb"; \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.kernel_name=python3 \
			--ExecutePreprocessor.timeout=600 \
			--ExecutePreprocessor.store_widget_state=True \
			--ExecutePreprocessor.record_timing=False \
			"$$nb"; \
	done

# tests/gpu (the CUDA graph, bf16, fused AdamW and Muon on CUDA), then the same
# notebooks, the same committed outputs and the same tiers, on CUDA; stops at once
# without a GPU. Deterministic kernels (cuBLAS needs the workspace setting) make
# reruns on one GPU repeatable; they do not make a GPU print the CPU's last digits,
# which is what the approximate tier is for.
GPU_ENV := TINYTX_DEVICE=cuda TINYTX_DETERMINISTIC=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
test-gpu: $(STAMP)
	$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
		'make test-gpu: torch sees no CUDA device here; run it on a GPU machine')"
	$(BIN)/pytest tests/gpu -q
	$(GPU_ENV) $(BIN)/pytest $(wildcard notebooks) $(NBVAL)

# Every notebook executed twice in fresh kernels: the compared outputs must not differ.
test-determinism: $(STAMP)
	$(BIN)/pytest tests/determinism -q

# Figures, not pass/fail: see book/performance.md for the latest table.
bench: $(STAMP) book chromium
	@test -n "$${TINYTX_DATA:-}" || { echo "make bench: set TINYTX_DATA to the folder with tinyshakespeare.txt"; exit 1; }
	$(BIN)/python -m tinytx.bench attention
	$(BIN)/python -m tinytx.bench generate
	$(BIN)/python -m tinytx.bench train-to-target --target 1.886 --data "$$TINYTX_DATA/tinyshakespeare.txt"
	$(BIN)/python -m tinytx.bench book
	$(BIN)/python -m tinytx.bench pages --chromium $(CHROMIUM)

# Rewriting notebook JSON needs only the standard library: no venv, no torch. The
# notebooks install tinytx at REF on Colab (default: the commit checked out).
PYTHON ?= python3
student:
	$(PYTHON) -m tinytx.teach.student build --notebooks notebooks --out student $(if $(REF),--ref $(REF))

clean:
	rm -rf _build .pytest_cache .hypothesis student
