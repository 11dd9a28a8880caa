# The two commands of the README:
#   make demo   set up what the demo needs (the grid extra: no torch), then compile an example
#               spec, train a small agent against it, and write the picture and the report
#   make test   set everything up (the dev extra, and the dev-ray extra in .venv-ray), then
#               run the whole test suite, then the Ray/RLlib tests and the runtime tests under
#               RLlib's gymnasium (below 1.3; .venv has 1.4)
.PHONY: setup setup-ray demo test lint bench-compile bench-monitor

# Where the tests marked `ray` live (tests/speclang/test_ray_tests_run.py keeps it true); the
# rest of tests/runtime is the gymnasium-facing code, run here under the other gymnasium too
RAY_TESTS = tests/agents/test_ray_backend.py tests/runtime

setup:
	@bash scripts/setup.sh dev

setup-ray:
	@bash scripts/setup.sh ray

demo:
	@bash scripts/setup.sh grid
	@bash scripts/demo.sh

test: setup setup-ray
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -n 2 -q -p no:cacheprovider --timeout=900
	HF_HUB_OFFLINE=1 SPECLANG_REQUIRE_RAY=1 .venv-ray/bin/python -m pytest -q -p no:cacheprovider \
		--timeout=900 $(RAY_TESTS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

bench-compile: setup
	.venv/bin/python benchmarks/compile.py

bench-monitor: setup
	.venv/bin/python benchmarks/monitor.py
