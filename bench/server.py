"""The local server: what HTTP costs over the in-process engine, fairness under load, memory over many requests.

One EngineService (one Llama) serves both sides, so the model, its KV cache and the sampler are the same;
in-process runs and server runs are interleaved A/B/A/B and every ratio comes from this one run.

- streaming tok/s through the server (the official ``openai`` client, SSE) / in-process ``service.generate``
- time to first token: server minus in-process (same cached prompt on both sides)
- four concurrent clients: total tokens/s over one client's, and each client's wait over its fair share
  (FCFS: the k-th of four should wait about k-1 replies)
- 1,000 short sequential requests: growth of this process's resident memory after a warm-up
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import LONG_PROMPT, SAMPLING, Figure, Section, median, starter_model

MESSAGES: list[Any] = [{"role": "user", "content": LONG_PROMPT}]
MODEL = ""


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(quick: bool = False) -> Section:
    import openai

    from app.core.engines.load_options import LoadOptions
    from app.core.engines.service import EngineService, GenerationRequest
    from app.core.prompting.types import Sampling
    from app.server.app import ServerOptions
    from app.server.runner import ServerRunner

    rounds, max_tokens, short_requests = (1, 24, 20) if quick else (6, 256, 1000)
    concurrency_rounds = 1 if quick else 3
    service = EngineService()
    loaded = service.load(starter_model(), LoadOptions(context_size=2048)).result()
    model = loaded.info.path.stem
    runner = ServerRunner(service, ServerOptions(port=0)).start()
    client = openai.OpenAI(base_url=runner.url, api_key="bench", max_retries=0, timeout=600)
    sampling = Sampling(**{k: v for k, v in SAMPLING.items()}, max_tokens=max_tokens)
    extra = {k: SAMPLING[k] for k in ("top_k", "min_p", "repeat_penalty")}

    def in_process() -> tuple[float, float, float]:
        times: list[float] = []
        started = time.perf_counter()
        ticket = service.generate(GenerationRequest(MESSAGES, sampling), lambda _p: times.append(time.perf_counter()))
        ticket.result()
        return started, times[0] - started, _rate(times)

    def served(tokens: int = max_tokens) -> tuple[float, float, float]:
        times: list[float] = []
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=tokens, stream=True, temperature=0.0, top_p=0.95, seed=1,
            extra_body=extra,
        )  # fmt: skip
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(time.perf_counter())
        return started, times[0] - started, _rate(times)

    def raw_ttft() -> float:
        """The server's own cost, without a client library's: a bare HTTP request, read until the first text."""
        body = json.dumps({"model": model, "messages": MESSAGES, "max_tokens": 4, "stream": True, **SAMPLING})
        connection = http.client.HTTPConnection("127.0.0.1", runner.port)
        started = time.perf_counter()
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        first = 0.0
        while line := response.readline():
            if not first and b'"content": "' in line and b'"content": ""' not in line:
                first = time.perf_counter() - started
        connection.close()
        return first

    def short_ttft() -> float:
        times: list[float] = []
        started = time.perf_counter()
        short_sampling = sampling.with_overrides(max_tokens=4)
        service.generate(
            GenerationRequest(MESSAGES, short_sampling), lambda _p: times.append(time.perf_counter())
        ).result()
        return times[0] - started

    try:
        served(8), in_process()  # warm: the prompt is in the KV cache for both sides from here on
        local_rate: list[float] = []
        remote_rate: list[float] = []
        local_ttft: list[float] = []
        remote_ttft: list[float] = []
        for _ in range(rounds):
            _, ttft, rate = in_process()
            local_ttft.append(ttft)
            local_rate.append(rate)
            _, ttft, rate = served()
            remote_ttft.append(ttft)
            remote_rate.append(rate)
        bare_local: list[float] = []
        bare_remote: list[float] = []
        for _ in range(rounds * 4):
            bare_local.append(short_ttft())
            bare_remote.append(raw_ttft())

        # one client, then four at once (same replies); alternated, medians: one sample each moves by ±8 % here
        lock = threading.Lock()

        def one_client() -> float:
            started = time.perf_counter()
            served()
            return time.perf_counter() - started

        def four_clients() -> tuple[float, list[float]]:
            waits: list[float] = []

            def one(offset: float) -> None:
                time.sleep(offset)  # arrive in a known order
                _, ttft, _ = served()
                with lock:
                    waits.append(ttft)

            threads = [threading.Thread(target=one, args=(0.02 * i,)) for i in range(4)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return time.perf_counter() - started, sorted(waits)

        singles: list[float] = []
        throughput_ratios: list[float] = []
        fair_ratios: list[float] = []
        for _ in range(concurrency_rounds):
            single_s = one_client()
            together_s, waits = four_clients()
            singles.append(single_s)
            throughput_ratios.append((4 * max_tokens / together_s) / (max_tokens / single_s))
            fair_ratios.append(max(wait / (index * single_s + waits[0]) for index, wait in enumerate(waits)))
        throughput_ratio, fair_ratio = median(throughput_ratios), median(fair_ratios)

        # many short requests
        def short() -> None:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)

        for _ in range(min(50, short_requests)):
            short()
        rss_before = _rss_mb()
        short_started = time.perf_counter()
        for _ in range(short_requests):
            short()
        per_request_ms = (time.perf_counter() - short_started) / short_requests * 1000
        rss_growth = _rss_mb() - rss_before
    finally:
        runner.stop()
        service.close()

    stream_ratio = median(remote_rate) / median(local_rate)
    ttft_overhead_ms = (median(bare_remote) - median(bare_local)) * 1000
    client_overhead_ms = (median(remote_ttft) - median(local_ttft)) * 1000
    return Section(
        "Local server (OpenAI API over HTTP) vs the in-process engine",
        "python -m bench server",
        [
            Figure("in-process streaming", median(local_rate), "tok/s"),
            Figure("through the server (openai client, SSE)", median(remote_rate), "tok/s"),
            Figure("streaming ratio server / in-process", stream_ratio, "x", "≥ 0.97", stream_ratio >= 0.97),
            Figure("TTFT in-process (cached prompt)", median(local_ttft) * 1000, "ms"),
            Figure(
                "TTFT overhead of the server (bare HTTP client)",
                ttft_overhead_ms,
                "ms",
                "≤ +15",
                ttft_overhead_ms <= 15,
            ),
            Figure("TTFT overhead with the openai client (its own cost included)", client_overhead_ms, "ms"),
            Figure(
                "4 concurrent clients: total throughput / one",
                throughput_ratio,
                "x",
                "≥ 0.95",
                throughput_ratio >= 0.95,
            ),
            Figure(
                "4 concurrent clients: worst wait / fair share (FCFS)", fair_ratio, "x", "≤ 1.10", fair_ratio <= 1.1
            ),
            Figure(f"{short_requests} short requests: mean time each", per_request_ms, "ms"),
            Figure(f"{short_requests} short requests: RSS growth", rss_growth, "MB", "< 20", rss_growth < 20),
        ],
        notes=f"{rounds} interleaved rounds of {max_tokens} tokens each side; one EngineService (one Llama) "
        f"serves both; medians. Concurrency: {concurrency_rounds} alternated rounds of one client then four, medians "
        f"(four / one per round: {', '.join(f'{r:.3f}' for r in throughput_ratios)}); the clients are threads of "
        "the process that runs the server, so their own SSE parsing competes with it for the 2 cores.",
    )


def _rate(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])
