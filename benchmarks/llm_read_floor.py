"""What it costs a logits processor, inside ``generate``, just to look at its inputs: the
evidence for the floor under the shield's per-token cost (docs/results.md).

Each kind is a processor that does one thing and changes nothing; it is timed inside greedy
``generate`` calls (median call, microseconds per step; one step is one token per row):

- ``nothing``: the timing wrapper alone;
- ``new tokens``: each row's new token id (numpy view of ``input_ids``);
- ``numpy argmax``: each row's best token (numpy view of the scores, argmax);
- ``floor``: both, which a greedy shield needs (the benchmark's ``floor`` processor);
- ``torch argmax``: the best tokens through torch, as ``generate`` finds them itself;
- ``item reads``: 16 single scores read through a numpy view (a gather, instead of an
  argmax over the vocabulary);
- ``C via ctypes``: the new tokens and the argmax in a small C function, compiled with the
  system's C compiler into a temporary folder (skipped without one): whether compiled code
  reads the scores faster than numpy does.

    nice -n 5 .venv/bin/python benchmarks/llm_read_floor.py [--real] [--batches 1,2,8]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llm_shield import PROMPTS, Timed  # noqa: E402

C_SOURCE = r"""
#include <stdint.h>
/* two passes, so that the first (a max reduction) vectorises; NaN is not handled */
void rows_argmax(const float *x, int64_t rows, int64_t n, int64_t *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *p = x + r * n;
        float best = p[0];
        for (int64_t i = 1; i < n; i++) best = p[i] > best ? p[i] : best;
        int64_t bi = 0;
        while (p[bi] != best) bi++;
        out[r] = bi;
    }
}
void last_col(const int64_t *x, int64_t rows, int64_t len, int64_t *out) {
    for (int64_t r = 0; r < rows; r++) out[r] = x[r * len + len - 1];
}
"""


def compiled(folder: str) -> ctypes.CDLL | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src, lib = Path(folder) / "floor.c", Path(folder) / "libfloor.so"
    src.write_text(C_SOURCE)
    subprocess.run([cc, "-O3", "-march=native", "-ffast-math", "-shared", "-fPIC", "-o",
                    str(lib), str(src)], check=True)
    dll = ctypes.CDLL(str(lib))
    for fn in (dll.rows_argmax, dll.last_col):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return dll


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", action="store_true", help="the real SmolLM2-135M-Instruct")
    ap.add_argument("--batches", default="1,2,8")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import torch
    from transformers import LogitsProcessorList

    from speclang.llm import smollm

    torch.set_num_threads(1)
    model, tok = smollm.load(tokenizer_only=not args.real)
    if model is None:
        from speclang.llm.tiny import tiny_model

        model = tiny_model(tok, hidden=64, layers=2)
    vocab = len(tok)
    folder = tempfile.mkdtemp()
    dll = compiled(folder)
    out_ids, out_best = (ctypes.c_int64 * 64)(), (ctypes.c_int64 * 64)()
    probe = list(range(1000, 1016))

    def c_floor(input_ids, scores):  # noqa: ANN001, ANN202
        rows, length = input_ids.shape
        dll.last_col(input_ids.data_ptr(), rows, length, out_ids)  # type: ignore[union-attr]
        dll.rows_argmax(scores.data_ptr(), rows, vocab, out_best)  # type: ignore[union-attr]
        return scores

    def item_reads(input_ids, scores):  # noqa: ANN001, ANN202
        view = scores.numpy()
        for row in range(view.shape[0]):
            max(view.item(row, j) for j in probe)
        return scores

    kinds = {
        "nothing": lambda i, s: s,
        "new tokens": lambda i, s: (i.numpy()[:, -1].tolist(), s)[1],
        "numpy argmax": lambda i, s: (s.numpy().argmax(1).tolist(), s)[1],
        "floor": lambda i, s: (i.numpy()[:, -1].tolist(), s.numpy().argmax(1).tolist(), s)[2],
        "torch argmax": lambda i, s: (s.argmax(-1).tolist(), s)[1],
        "item reads": item_reads,
    }
    if dll is not None:
        kinds["C via ctypes"] = c_floor
    results: dict = {"real_model": args.real, "vocab": vocab, "tokens": args.tokens,
                     "load_before": os.getloadavg(), "batches": {}}
    for batch in [int(b) for b in args.batches.split(",")]:
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
        enc = tok(prompts, return_tensors="pt", padding=True)
        calls: dict[str, list[float]] = {k: [] for k in kinds}
        for rep in range(args.repeats):
            names = list(kinds)
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                timed = Timed(kinds[name])
                with torch.no_grad():
                    model.generate(**enc, logits_processor=LogitsProcessorList([timed]),
                                   max_new_tokens=args.tokens, min_new_tokens=args.tokens,
                                   do_sample=False, pad_token_id=tok.pad_token_id)
                calls[name] += timed.calls[1:]
        row = {k: round(1e6 * statistics.median(v), 1) for k, v in calls.items()}
        results["batches"][str(batch)] = row
        print(f"batch {batch}, us per step:", json.dumps(row), flush=True)
    results["load_after"] = os.getloadavg()
    shutil.rmtree(folder, ignore_errors=True)
    print(f"load average before/after: {results['load_before']} / {results['load_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
