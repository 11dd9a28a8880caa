"""A tiny, offline, config-built causal LM and a byte-level BPE tokenizer trained on the fly,
for tests and benchmarks (no downloads; seconds to build)."""

from __future__ import annotations

from typing import Any

CORPUS = [
    "Take 200 mg of ibuprofen twice a day.",
    "I am not a doctor, please consult a doctor before taking any medicine.",
    "Drink water and rest well.",
    "This is not medical advice.",
    "A dose of 5 ml every four hours is common.",
    "Call 911 or go to the emergency room if the pain is severe.",
    "You may have a mild cold; see a doctor if it gets worse.",
    "Sleep, fluids and patience help most colds.",
    "Paracetamol 500 mg tablets are sold without prescription.",
    "Hello! How can I help you today?",
]


def tiny_tokenizer(vocab_size: int = 320, corpus: list[str] | None = None) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<eos>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((corpus or CORPUS) * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                   padding_side="left")


ARCHS = ("llama", "phi3")


def tiny_model(tokenizer: Any, seed: int = 0, hidden: int = 32, layers: int = 2,
               arch: str = "llama") -> Any:
    """A random causal LM of the given architecture: ``"llama"`` (SmolLM2's) or
    ``"phi3"`` (Phi-3-mini's: fused ``qkv_proj`` and ``gate_up_proj`` projections)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Phi3Config, Phi3ForCausalLM

    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")
    # Any: the two config classes take the same keywords but share no typed base
    config: Any = LlamaConfig if arch == "llama" else Phi3Config
    model_class: Any = LlamaForCausalLM if arch == "llama" else Phi3ForCausalLM
    torch.manual_seed(seed)
    cfg = config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=256, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, tie_word_embeddings=True)
    model = model_class(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model


# The tiny tokenizer has no chat template of its own: "role: content" lines, for code that
# renders conversations (the break-fix rounds, the leak-rate benchmark's --tiny).
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
