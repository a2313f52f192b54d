"""A tiny recurrent model for the tests: a Mamba GGUF with random weights, written with the ``gguf`` package.

llama.cpp loads it as a recurrent model (``llama_model_is_recurrent``): its state is a fixed-size summary of every
token read, which cannot be cut back to a shorter prefix. Two layers, 32-wide, a byte-level BPE vocabulary of 256
bytes, a few merges and ChatML's control tokens (~300 tokens, ~200 KB). Its replies are nonsense, but greedy
decoding of fixed random weights is deterministic, which is all the state cache's tests need.
"""

from __future__ import annotations

from pathlib import Path

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


def write_tiny_mamba(path: Path, seed: int = 20) -> Path:
    """Write the model to ``path`` (and return it)."""
    import gguf
    import numpy as np

    tokens = [*byte_alphabet(), *(a + b for a, b in MERGES), *CONTROL]
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(CONTROL)) + [gguf.TokenType.CONTROL] * len(CONTROL)
    n_vocab = len(tokens)
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
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{a} {b}" for a, b in MERGES])
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)

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
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
