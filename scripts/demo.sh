#!/usr/bin/env bash
# The README's demo: check and compile the example specs, draw the Minecraft safeguards,
# write the spec report, train a small progressive-safeguards experiment and report on it.
# Everything lands in runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
S=.venv/bin/speclang
OUT=runs/demo
rm -rf "$OUT"
mkdir -p "$OUT"

# Bold step titles only on a terminal, and never under NO_COLOR (https://no-color.org): piped
# into a file or a log, escape codes are noise.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

step "check every example spec"
$S check examples/*.spec

step "compile the Minecraft progression (T1..T4) to minimal DFAs"
$S compile examples/minecraft.spec -o "$OUT/automata"

step "draw the safeguards and write the spec report"
for spec in t1 t2 t3 t4; do
  $S viz examples/minecraft.spec --spec "$spec" -o "$OUT/minecraft_$spec.svg"
done
$S report-spec examples/minecraft.spec -o "$OUT/minecraft.html"

step "monitor and explain a violating trace of T3"
printf '["wood"]\n[]\n["lava"]\n' > "$OUT/trace.jsonl"
$S monitor examples/minecraft.spec --spec t3 --trace "$OUT/trace.jsonl"
$S explain examples/minecraft.spec --spec t3 --trace "$OUT/trace.jsonl" || true

step "train a small agent through the progression (progressive safeguards vs baselines)"
$S train examples/experiments/demo.toml --out "$OUT/train"

step "report"
$S report "$OUT/train"

printf '\nDone. Open %s/minecraft.html (the automata) and %s/train/ (plots and summary).\n' "$OUT" "$OUT"
ls "$OUT" "$OUT/train" | sed 's/^/  /'
