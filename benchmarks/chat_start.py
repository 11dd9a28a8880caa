"""How long `speclang chat` takes to start: cold (an empty cache folder: SmolLM2's GGUF file
is converted into a transformers checkpoint and the shield's tables are built) and warm
(the same folder again), as the wall time from launching the command to the first streamed
token of the reply and to its end.

    python benchmarks/chat_start.py                   # 1 cold run, 3 warm runs
    python benchmarks/chat_start.py --cache DIR --warm 5 --no-cold

Each run is a fresh process (``python -m speclang chat FILE --spec S --prompt P``) with
``SPECLANG_CACHE`` set to the folder; a warm breakdown of where the time goes (imports,
model load, shield tables, first token) follows, measured in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an installed copy
SPEC = str(ROOT / "examples" / "chatbot.spec")
MARK = "assistant> "


def _launch(cache: Path, spec: str, extra: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SPECLANG_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "speclang", "chat", SPEC, "--spec", spec, *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        cwd=ROOT)


def _read_until(proc: subprocess.Popen[bytes], seen: bytearray, done: Any) -> bool:
    """Read stdout byte by byte into ``seen`` until ``done(seen)``; False at its end."""
    assert proc.stdout is not None
    while not done(seen):
        ch = proc.stdout.read(1)
        if not ch:
            return False
        seen += ch
    return True


def _reply_started(seen: bytearray) -> bool:
    i = seen.rfind(MARK.encode())
    return i >= 0 and bool(seen[i + len(MARK):].strip())


def _finish(proc: subprocess.Popen[bytes], seen: bytearray) -> float:
    """Wait for the end; the CPU seconds the process used (user + system), which on a
    shared machine says more than the wall time about an idle one."""
    _read_until(proc, seen, lambda s: False)
    err = proc.stderr.read().decode() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"speclang chat exited {code}:\n{err[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def run_once(cache: Path, spec: str, prompt: str,
             extra: list[str]) -> tuple[float, float, float, str]:
    """``--prompt``: (seconds to the first character of the reply, to exit, CPU seconds,
    the output)."""
    t0 = time.perf_counter()
    proc = _launch(cache, spec, ["--prompt", prompt, *extra])
    assert proc.stdin is not None
    proc.stdin.close()
    seen = bytearray()
    _read_until(proc, seen, _reply_started)
    first = time.perf_counter() - t0
    cpu = _finish(proc, seen)
    return first, time.perf_counter() - t0, cpu, seen.decode("utf-8", "replace")


def run_interactive(cache: Path, spec: str, prompt: str, extra: list[str],
                    think: float) -> tuple[float, float]:
    """An interactive chat whose user sends ``prompt`` ``think`` seconds after the first
    ``you>``: (seconds to that prompt, seconds from sending to the first reply character)."""
    t0 = time.perf_counter()
    proc = _launch(cache, spec, extra)
    assert proc.stdin is not None
    seen = bytearray()
    if not _read_until(proc, seen, lambda s: s.endswith(b"you> ")):
        _finish(proc, seen)
    ready = time.perf_counter() - t0
    time.sleep(think)
    sent = time.perf_counter()
    proc.stdin.write(prompt.encode() + b"\n\n")
    proc.stdin.close()
    _read_until(proc, seen, _reply_started)
    first = time.perf_counter() - sent
    _finish(proc, seen)
    return ready, first


def breakdown(cache: Path, spec: str, prompt: str,
              threads: int | None) -> list[tuple[str, float]]:
    """Where a warm start spends its time, in this (fresh) process."""
    os.environ["SPECLANG_CACHE"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    out = []
    t = time.perf_counter()
    import torch
    import transformers  # noqa: F401

    if threads:
        torch.set_num_threads(threads)

    out.append(("import torch, transformers", time.perf_counter() - t))
    t = time.perf_counter()
    import speclang
    from speclang.llm import TextMonitor, smollm
    from speclang.llm.chat import ChatSession

    monitor = TextMonitor.from_module(speclang.load(SPEC), spec, unit="word")
    out.append(("import speclang.llm, compile the spec", time.perf_counter() - t))
    t = time.perf_counter()
    model, tok = smollm.load()
    out.append(("load the converted checkpoint", time.perf_counter() - t))
    t = time.perf_counter()
    session = ChatSession(model, tok, monitor, max_new_tokens=1)
    session.prepare()
    out.append(("shield tables (from the disk cache)", time.perf_counter() - t))
    t = time.perf_counter()
    session.reply(prompt)
    out.append(("first token", time.perf_counter() - t))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, help="cache folder (default: a new, empty one)")
    ap.add_argument("--warm", type=int, default=3, help="warm runs (default 3)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold run")
    ap.add_argument("--spec", default="dosage_disclaimer")
    ap.add_argument("--prompt", default="How much ibuprofen can I take for a headache?")
    ap.add_argument("--tokens", type=int, default=16, help="--max-new-tokens per run")
    ap.add_argument("--threads", type=int, help="passed to speclang chat --threads")
    ap.add_argument("--think", type=float, default=5.0,
                    help="seconds the interactive user takes to type (default 5)")
    a = ap.parse_args(argv)
    extra = ["--max-new-tokens", str(a.tokens)] + (
        ["--threads", str(a.threads)] if a.threads else [])
    cache = a.cache or Path(tempfile.mkdtemp(prefix="speclang-chat-start-"))
    print(f"cache folder: {cache}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; spec {a.spec}; max_new_tokens {a.tokens}; "
          f"threads {a.threads or 'default'}")
    rows = []
    if not a.no_cold:
        first, total, cpu, text = run_once(cache, a.spec, a.prompt, extra)
        rows.append(("cold", first, total, cpu))
        print(text.strip())
    warm = [run_once(cache, a.spec, a.prompt, extra) for _ in range(a.warm)]
    for i, (first, total, cpu, _) in enumerate(warm, 1):
        rows.append((f"warm {i}", first, total, cpu))
    print("\n| run (--prompt) | first token (s) | whole reply (s) | CPU (s) |\n"
          "|---|---:|---:|---:|")
    for name, first, total, cpu in rows:
        print(f"| {name} | {first:.1f} | {total:.1f} | {cpu:.1f} |")
    if warm:
        print("| warm median | " + " | ".join(
            f"{statistics.median(w[i] for w in warm):.1f}" for i in range(3)) + " |")
    print(f"load average now {os.getloadavg()[0]:.1f}")
    if a.warm:
        ready, first = run_interactive(cache, a.spec, a.prompt, extra, a.think)
        print(f"\ninteractive, warm: 'you>' after {ready:.1f} s; the user sends after "
              f"{a.think:.0f} s; first reply character {first:.1f} s after sending")
    print("\nwarm start, where the time goes (one process):")
    for name, s in breakdown(cache, a.spec, a.prompt, a.threads):
        print(f"  {name:40s} {s:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
