# The two commands of the README:
#   make demo   set up what the demo needs (the grid extra: no torch), then compile an example
#               spec, train a small agent against it, and write the picture and the report
#   make test   set everything up (the dev extra), then run the whole test suite
.PHONY: setup demo test lint bench-compile bench-monitor

setup:
	@bash scripts/setup.sh dev

demo:
	@bash scripts/setup.sh grid
	@bash scripts/demo.sh

test: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -n 2 -q -p no:cacheprovider --timeout=900

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

bench-compile: setup
	.venv/bin/python benchmarks/compile.py

bench-monitor: setup
	.venv/bin/python benchmarks/monitor.py
