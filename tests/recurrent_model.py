"""Tiny models whose state cannot be cut back, for the tests: GGUFs with random weights, written with ``gguf``.

``write_tiny_mamba``: llama.cpp loads it as a recurrent model (``llama_model_is_recurrent``): its state is a
fixed-size summary of every token read. ``write_tiny_lfm2``: a hybrid model (``llama_model_is_hybrid``): a
short-convolution layer (a recurrent state) and an attention layer (a KV cache). Neither can be cut back to a shorter
prefix. Two layers, 32-wide, a byte-level BPE vocabulary of 256 bytes, a few merges and ChatML's control tokens (~270
tokens; ~150 KB a file). Their replies are nonsense, but greedy decoding of fixed random weights is deterministic,
which is all the state cache's tests need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

N_EMBD, D_INNER, D_STATE, D_CONV, DT_RANK, N_LAYER = 32, 64, 8, 4, 4, 2
DECAY, DT_BIAS = 0.05, -4.0
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "a"), ("i", "n"), ("e", "r"), ("o", "n"), ("Ġ", "s")]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_alphabet() -> list[str]:
    """GPT-2's printable stand-in for each byte (what a byte-level BPE vocabulary spells its tokens with)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    return [chars[byte] for byte in range(256)]


def vocabulary() -> list[str]:
    return [*byte_alphabet(), *(a + b for a, b in MERGES), *CONTROL]


def add_vocabulary(writer: Any) -> None:
    """A byte-level BPE vocabulary (GPT-2's pre-tokenizer), ChatML's control tokens and template."""
    import gguf

    tokens = vocabulary()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.NORMAL] * (len(tokens) - len(CONTROL)) + [gguf.TokenType.CONTROL] * len(CONTROL)
    )
    writer.add_token_merges([f"{a} {b}" for a, b in MERGES])
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)


def finish(writer: Any, path: Path) -> Path:
    """Write what ``writer`` holds to ``path``."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_tiny_mamba(path: Path, seed: int = 20) -> Path:
    """Write the model to ``path`` (and return it)."""
    import gguf
    import numpy as np

    n_vocab = len(vocabulary())
    rng = np.random.default_rng(seed)

    def weights(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "mamba")
    writer.add_name("Tiny Mamba (random weights, tests)")
    writer.add_context_length(4096)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(0)
    writer.add_head_count(0)
    writer.add_ssm_conv_kernel(D_CONV)
    writer.add_ssm_inner_size(D_INNER)
    writer.add_ssm_state_size(D_STATE)
    writer.add_ssm_time_step_rank(DT_RANK)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    add_vocabulary(writer)

    writer.add_tensor("token_embd.weight", weights(n_vocab, N_EMBD, scale=1.0))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", weights(n_vocab, N_EMBD))
    for i in range(N_LAYER):
        block = f"blk.{i}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{block}.ssm_in.weight", weights(2 * D_INNER, N_EMBD))
        writer.add_tensor(f"{block}.ssm_conv1d.weight", weights(D_INNER, D_CONV))
        writer.add_tensor(f"{block}.ssm_conv1d.bias", weights(D_INNER, scale=0.05))
        writer.add_tensor(f"{block}.ssm_x.weight", weights(DT_RANK + 2 * D_STATE, D_INNER))
        writer.add_tensor(f"{block}.ssm_dt.weight", weights(D_INNER, DT_RANK))
        writer.add_tensor(f"{block}.ssm_dt.bias", np.full(D_INNER, DT_BIAS, dtype=np.float32))
        # A slow decay (Mamba's S4D-real init, scaled down) and small steps: the state remembers the whole prompt,
        # so a reply depends on its first tokens too (a wrong state restored would show).
        a = -np.tile(np.arange(1, D_STATE + 1, dtype=np.float32), (D_INNER, 1)) * DECAY
        writer.add_tensor(f"{block}.ssm_a", a)
        writer.add_tensor(f"{block}.ssm_d", np.ones(D_INNER, dtype=np.float32))
        writer.add_tensor(f"{block}.ssm_out.weight", weights(N_EMBD, D_INNER))
    return finish(writer, path)


def write_tiny_lfm2(path: Path, seed: int = 20) -> Path:
    """A tiny LFM2 (a hybrid model: a short-convolution layer, then an attention layer) with random weights."""
    import gguf
    import numpy as np

    n_embd, n_head, n_head_kv, n_ff, l_cache = 32, 4, 2, 64, 3
    head = n_embd // n_head
    kinds = ["conv", "attention"]
    n_vocab = len(vocabulary())
    rng = np.random.default_rng(seed)

    def weights(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    writer = gguf.GGUFWriter(str(path), "lfm2")
    writer.add_name("Tiny LFM2 (random weights, tests)")
    writer.add_context_length(4096)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(len(kinds))
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv([n_head_kv if kind == "attention" else 0 for kind in kinds])
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_shortconv_l_cache(l_cache)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    add_vocabulary(writer)
    writer.add_tensor("token_embd.weight", weights(n_vocab, n_embd, scale=1.0))
    writer.add_tensor("token_embd_norm.weight", ones(n_embd))
    writer.add_tensor("output.weight", weights(n_vocab, n_embd))
    for i, kind in enumerate(kinds):
        block = f"blk.{i}"
        writer.add_tensor(f"{block}.attn_norm.weight", ones(n_embd))
        writer.add_tensor(f"{block}.ffn_norm.weight", ones(n_embd))
        writer.add_tensor(f"{block}.ffn_gate.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"{block}.ffn_up.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"{block}.ffn_down.weight", weights(n_embd, n_ff))
        if kind == "conv":
            writer.add_tensor(f"{block}.shortconv.conv.weight", weights(n_embd, l_cache))
            writer.add_tensor(f"{block}.shortconv.in_proj.weight", weights(3 * n_embd, n_embd))
            writer.add_tensor(f"{block}.shortconv.out_proj.weight", weights(n_embd, n_embd))
        else:
            writer.add_tensor(f"{block}.attn_q_norm.weight", ones(head))
            writer.add_tensor(f"{block}.attn_k_norm.weight", ones(head))
            writer.add_tensor(f"{block}.attn_q.weight", weights(n_embd, n_embd))
            writer.add_tensor(f"{block}.attn_k.weight", weights(head * n_head_kv, n_embd))
            writer.add_tensor(f"{block}.attn_v.weight", weights(head * n_head_kv, n_embd))
            writer.add_tensor(f"{block}.attn_output.weight", weights(n_embd, n_embd))
    return finish(writer, path)
