# tinytx: build the book, run the tests, refresh notebook outputs.
#
#   make book      strict Jupyter Book build -> _build/html/index.html
#   make test      unit tests + nbval on every notebook + strict book build
#   make lab       JupyterLab on notebooks/
#   make execute   re-run notebooks in place (NB=notebooks/05_softmax.ipynb for one)
#
# Every target first makes .venv (created on first use, reinstalled when
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

BOOK_BUILD := $(BIN)/jupyter-book build . -W -n --keep-going --all

.PHONY: venv .venv test book lab execute clean

venv .venv: $(STAMP)

# torch is installed first and by exact version: pip's find-links holds the CPU
# wheel of 2.13.0, and an unpinned torch would pull a newer CUDA build instead.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet -e .
	touch $@

test: $(STAMP)
	$(BIN)/pytest tests $(wildcard notebooks) --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg
	$(BOOK_BUILD)

book: $(STAMP)
	$(BOOK_BUILD)
	@echo "Book written to _build/html/index.html (serve it: python -m http.server -d _build/html)"

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

clean:
	rm -rf _build .pytest_cache .hypothesis
