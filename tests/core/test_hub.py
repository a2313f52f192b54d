"""The Hub catalogue through the real huggingface_hub client, against the loopback stand-in."""

from pathlib import Path

import pytest

from app.core.hub import catalogue
from app.core.hub.catalogue import HubAuthError, HubError, HubOffline, MachineMemory, Quant, RepoFile

GB = 1 << 30


def test_search_finds_openhermes_with_the_format_filter(hub, tmp_path: Path) -> None:
    found = catalogue.search("OpenHermes 2 Mistral", fmt="gguf", endpoint=hub.endpoint)
    assert [r.id for r in found] == ["TheBloke/OpenHermes-2-Mistral-7B-GGUF"]
    assert found[0].author == "TheBloke" and found[0].downloads == 48_000 and found[0].updated is not None
    gptq = catalogue.search("OpenHermes", fmt="gptq", endpoint=hub.endpoint)
    assert [r.id for r in gptq] == ["TheBloke/OpenHermes-2-Mistral-7B-GPTQ"]
    assert gptq[0].format == "gptq"


def test_sort_and_paging(hub) -> None:
    by_downloads = [r.id for r in catalogue.search("", fmt="gguf", sort="downloads", endpoint=hub.endpoint)]
    assert len(by_downloads) == 4  # more than one page of 2: the Link header was followed
    assert by_downloads[0] == "meta-llama/Llama-2-7b-chat-GGUF"
    by_likes = [r.id for r in catalogue.search("", fmt="gguf", sort="likes", endpoint=hub.endpoint)]
    assert by_likes[0] == "meta-llama/Llama-2-7b-chat-GGUF" and by_likes[1] == "TheBloke/Goliath-120B-GGUF"
    recent = [r.id for r in catalogue.search("", fmt="gguf", sort="updated", endpoint=hub.endpoint)]
    assert recent[0] == "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
    assert len(catalogue.search("", fmt="gguf", limit=3, endpoint=hub.endpoint)) == 3


THEBLOKE_NAMES = {
    "openhermes-2-mistral-7b.Q2_K.gguf": "Q2_K",
    "openhermes-2-mistral-7b.Q3_K_M.gguf": "Q3_K_M",
    "openhermes-2-mistral-7b.Q4_K_M.gguf": "Q4_K_M",
    "openhermes-2-mistral-7b.Q5_K_S.gguf": "Q5_K_S",
    "openhermes-2-mistral-7b.Q8_0.gguf": "Q8_0",
    "Meta-Llama-3-8B-Instruct-IQ2_XXS.gguf": "IQ2_XXS",
    "mistral-7b-instruct-v0.2.IQ4_XS.gguf": "IQ4_XS",
    "phi-2.f16.gguf": "F16",
    "gemma-2b-it-bf16.gguf": "BF16",
    "tinyllama-1.1b-chat-v1.0.Q4_0.gguf": "Q4_0",
    "SmolLM2-135M-Instruct.Q4_1.gguf": "Q4_1",
    "no-quant-here.gguf": None,
}


@pytest.mark.parametrize(("name", "label"), THEBLOKE_NAMES.items())
def test_quant_labels_from_real_file_names(name: str, label: str | None) -> None:
    assert catalogue.parse_quant(name) == label


def test_repo_details_quant_table_and_card(hub, tmp_path: Path) -> None:
    details = catalogue.repo_details("TheBloke/OpenHermes-2-Mistral-7B-GGUF", endpoint=hub.endpoint, cache_dir=tmp_path)
    assert details.format == "gguf" and details.runnable and not details.note
    labels = [q.label for q in details.quants]
    assert labels[0] == "Q2_K" and labels[-1] == "Q8_0" and "Q4_K_M" in labels and len(labels) == 12
    q4 = next(q for q in details.quants if q.label == "Q4_K_M")
    assert q4.size == 4_368_438_528 and q4.bits_per_weight == 4.85 and len(q4.files[0].sha256 or "") == 64
    assert details.card.startswith("# OpenHermes 2 Mistral 7B - GGUF") and "<|im_start|>" in details.card


def test_the_kv_cache_is_read_from_the_model_header_with_a_few_hundred_kib(hub, tmp_path: Path) -> None:
    """Fit badges use the real architecture (Mistral 7B: 32 layers x 8 KV heads x 128 x 2 x f16 = 128 KiB/token)."""
    before = {path: count for path, count in hub.bytes_served.items() if path.endswith(".gguf")}
    details = catalogue.repo_details("TheBloke/OpenHermes-2-Mistral-7B-GGUF", endpoint=hub.endpoint, cache_dir=tmp_path)
    assert details.kv_bytes_per_token == 32 * 8 * (128 + 128) * 2 == 128 << 10
    read = {path: count - before.get(path, 0) for path, count in hub.bytes_served.items() if path.endswith(".gguf")}
    read = {path: count for path, count in read.items() if count}
    assert list(read) == ["openhermes-2-mistral-7b.Q2_K.gguf"]  # the smallest quant's header, nothing else
    assert 0 < read["openhermes-2-mistral-7b.Q2_K.gguf"] <= catalogue.HEADER_PROBES[0]

    q4 = next(q for q in details.quants if q.label == "Q4_K_M")
    fit = catalogue.estimate_fit(q4, MachineMemory(16 * GB), 8192, details.kv_bytes_per_token)
    assert fit.exact and fit.kv_cache == 1 << 30  # 8,192 tokens x 128 KiB
    assert fit.needed == int(q4.size * 1.05 + (1 << 30) + (300 << 20))


def test_the_header_read_agrees_with_the_local_file_and_falls_back_on_failure(
    hub, tmp_path: Path, starter_model: Path
) -> None:
    from app.core.library.gguf_file import read_gguf

    details = catalogue.repo_details("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", endpoint=hub.endpoint)
    assert details.kv_bytes_per_token == read_gguf(starter_model).kv_bytes_per_token == 30 * 3 * (64 + 64) * 2

    hub.fault(starter_model.name, "status", status=500)
    broken = catalogue.repo_details("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", endpoint=hub.endpoint)
    assert broken.kv_bytes_per_token is None  # the estimate stands in
    assert not catalogue.estimate_fit(broken.quants[0], MachineMemory(16 * GB)).exact


def test_split_gguf_is_one_row(hub, tmp_path: Path) -> None:
    details = catalogue.repo_details("TheBloke/Goliath-120B-GGUF", endpoint=hub.endpoint, cache_dir=tmp_path)
    split = next(q for q in details.quants if q.label == "Q4_K_M")
    assert len(split.files) == 3 and split.size == 72_000_000_000
    assert split.name == "goliath-120b.Q4_K_M.gguf (3 parts)"
    assert [q.label for q in details.quants] == ["Q2_K", "Q4_K_M"]


def test_gptq_branches_with_settings_and_flag(hub, tmp_path: Path) -> None:
    details = catalogue.repo_details("TheBloke/OpenHermes-2-Mistral-7B-GPTQ", endpoint=hub.endpoint, cache_dir=tmp_path)
    assert details.format == "gptq" and not details.runnable
    assert "needs a GPU backend — not runnable by llama.cpp" in details.note
    settings = {b.name: b.settings for b in details.branches}
    assert settings == {
        "main": "4-bit, group size 128, act-order",
        "gptq-4bit-32g-actorder_True": "4-bit, group size 32, act-order",
        "gptq-8bit-128g-actorder_False": "8-bit, group size 128, no act-order",
    }
    awq = catalogue.repo_details("TheBloke/OpenHermes-2-Mistral-7B-AWQ", endpoint=hub.endpoint, cache_dir=tmp_path)
    assert awq.format == "awq" and awq.branches[0].settings == "4-bit, group size 128"


def quant(label: str, gigabytes: float) -> Quant:
    return Quant(label, (RepoFile(f"m.{label}.gguf", int(gigabytes * GB), None),))


@pytest.mark.parametrize(
    ("ram_gb", "vram_gb", "size_gb", "badge"),
    [
        (32, 24, 4.4, "Full GPU offload"),
        (32, 8, 7.7, "Partial offload"),
        (16, None, 4.4, "CPU only"),
        (8, None, 7.7, "Too large"),
        (16, 4, 40.0, "Too large"),
        (64, 4, 40.0, "Partial offload"),
    ],
)
def test_fit_badges(ram_gb: int, vram_gb: int | None, size_gb: float, badge: str) -> None:
    memory = MachineMemory(ram_gb * GB, vram_gb * GB if vram_gb else None)
    assert catalogue.estimate_fit(quant("Q4_K_M", size_gb), memory, 4096).badge == badge


def test_recommendation_is_the_largest_that_fits_fully() -> None:
    ladder = [quant(q, s) for q, s in [("Q2_K", 2.9), ("Q4_K_M", 4.1), ("Q5_K_M", 4.8), ("Q8_0", 7.2)]]
    assert catalogue.recommend(ladder, MachineMemory(32 * GB, 6 * GB)).label == "Q4_K_M"
    assert catalogue.recommend(ladder, MachineMemory(32 * GB, 12 * GB)).label == "Q8_0"  # all of it on the GPU
    assert catalogue.recommend(ladder, MachineMemory(4 * GB)).label == "Q4_K_M"  # when in doubt


def test_cpu_only_machines_get_a_4_to_5_bit_quant_not_the_largest() -> None:
    """On a CPU, speed is memory-bound: a 24 GB machine without a GPU gets Q4_K_M starred for a 7B, not Q8_0."""
    ladder = [quant(q, s) for q, s in [("Q2_K", 2.9), ("Q4_K_M", 4.1), ("Q5_K_M", 4.8), ("Q6_K", 5.5), ("Q8_0", 7.2)]]
    for ram in (16, 24, 64):
        memory = MachineMemory(ram * GB)
        assert catalogue.estimate_fit(ladder[-1], memory).badge == "CPU only"  # Q8_0 would fit ...
        assert catalogue.recommend(ladder, memory).label == "Q4_K_M"  # ... but is not starred
    assert "memory" in catalogue.recommendation_note(MachineMemory(24 * GB))
    assert "GPU" in catalogue.recommendation_note(MachineMemory(24 * GB, 8 * GB, "CUDA · RTX"))
    # unified memory (Apple Silicon): the RAM is the GPU's memory, so there is no partial-offload tier
    unified = MachineMemory(16 * GB, 10 * GB, "Metal · Apple M2", unified=True)
    assert catalogue.estimate_fit(quant("Q8_0", 12.0), unified).badge == "Too large"
    assert catalogue.estimate_fit(quant("Q4_K_M", 4.1), unified).badge == "Full GPU offload"


def test_machine_memory_comes_from_llama_cpp_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU backend in this llama.cpp: no GPU memory (nvidia-smi is not asked); the override stands in."""
    from app.core.engines.devices import list_devices

    monkeypatch.delenv("HERMES_STUDIO_VRAM_GB", raising=False)
    report = list_devices()
    memory = catalogue.machine_memory()
    assert memory.ram == report.cpu.total > 0
    if report.offload_device is None:
        assert memory.vram is None
    monkeypatch.setenv("HERMES_STUDIO_VRAM_GB", "8")
    assert catalogue.machine_memory() == MachineMemory(report.cpu.total, 8 * GB, "configured")
    monkeypatch.setenv("HERMES_STUDIO_VRAM_GB", "0")
    assert catalogue.machine_memory().vram is None


def test_gated_repo_says_a_token_is_needed(hub, tmp_path: Path) -> None:
    from app.core.hub.downloads import DownloadManager

    manager = DownloadManager(tmp_path / "models", tmp_path / "state.json", endpoint=hub.endpoint, token=None)
    job = manager.enqueue("meta-llama/Llama-2-7b-chat-GGUF", "llama-2-7b-chat.Q4_K_M.gguf")
    job = manager.wait(job.key, 30)
    assert job.state == "failed" and "needs a Hugging Face token" in job.message


def test_offline_and_unreachable_are_states_not_tracebacks(hub) -> None:
    with pytest.raises(HubOffline, match="cannot be reached"):
        catalogue.search("x", endpoint="http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(HubError, match="no such repository"):
        catalogue.repo_details("nobody/nothing", endpoint=hub.endpoint)


@pytest.fixture(autouse=True)
def _env(hf_env) -> None:
    """Every test here talks to the stand-in only."""


def test_auth_error_type() -> None:
    assert issubclass(HubAuthError, HubError)
