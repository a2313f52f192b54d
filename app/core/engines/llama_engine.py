"""The local engine: one llama.cpp model, loaded from a validated GGUF, streaming chat replies.

``LlamaEngine`` implements ``engines.interface.Engine`` beside ``engines.remote.RemoteEngine``.

Not thread-safe by design: one owner (the engine service's thread, ``engines.service``) calls every method. The
stop callback is the only thing another thread touches; it is read between tokens. A reply's token loop is
``engines.llama_reply``; loading the file, ``engines.llama_open``.

``LlamaEngine(embedding=True)`` holds an embedding model instead (the engine service's embedding slot): it loads
only GGUFs made for embeddings (engines.llama_embed), answers ``embed`` and never chats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.engines.interface import ContextFullError, Embeddings, EngineCapabilities, Generation, LoadedModel
from app.core.engines.load_options import LoadOptions
from app.core.engines.model_format import ModelTokens, bos_once_ids
from app.core.engines.special_text import SpecialTextGuard
from app.core.errors import HermesError, ModelFileError, ModelLoadError, NoModelLoaded
from app.core.prompting.context import ContextOverflow, ContextPolicy, fit_to_context
from app.core.prompting.prompt_formats import AUTO, ChatMessage, PromptFormat, RenderedPrompt, resolve_format
from app.core.prompting.types import GenerationStats, Sampling

# What a load, a reply or an embedding needs is imported where it is used (load, stream, embed; the reply loop in
# llama_reply): the window builds a LlamaEngine at start, before any model is loaded, and the cold start pays only for
# what it touches (issue 20, part 4; tests/ui/test_start_imports.py keeps these modules off the start path).
if TYPE_CHECKING:
    from llama_cpp import Llama

    from app.core.engines.file_watch import FileWatch
    from app.core.engines.llama_vision import Projector
    from app.core.engines.state_cache import StateCache

__all__ = ["LlamaEngine"]

log = logging.getLogger(__name__)


class LlamaEngine:
    """Owns at most one ``Llama`` (implements ``Engine``)."""

    capabilities = EngineCapabilities(remote=False, grammar=True)  # vision: True while a projector is loaded

    def __init__(self, state_cache: StateCache | None = None, *, embedding: bool = False) -> None:
        """``state_cache``: where states of long prompts are kept (the faces give one on disk); None: none kept.

        ``embedding``: hold an embedding model (embedding mode, ``embed``) rather than a chat model.
        """
        self.embedding = embedding
        self._capabilities = EngineCapabilities(remote=False, grammar=not embedding, embeddings=embedding)
        self.capabilities = self._capabilities
        self.reserved_bytes = 0  # memory other models of this process hold (the service's other slot): for the fit
        self.state_cache = None if embedding else state_cache
        self._projector: Projector | None = None
        self._state_space = ""
        self._exact_states = False  # the model's state cannot be cut back (a recurrent or hybrid model)
        self._llama: Llama | None = None
        self._format: PromptFormat | None = None
        self._formats: dict[tuple[str, str], PromptFormat] = {}
        self._tokens = ModelTokens()
        self.loaded: LoadedModel | None = None
        self._watch: FileWatch | None = None  # the mapped file, while a model loaded with mmap is held
        self._guard = SpecialTextGuard(())  # the loaded vocabulary's control tokens, kept out of message text

    def load(
        self,
        path: str | Path,
        options: LoadOptions = LoadOptions(),
        on_progress: Callable[[float], bool] | None = None,
    ) -> LoadedModel:
        """Validate the file, plan the GPU offload, then load it (replacing any loaded model).

        If llama.cpp runs out of memory with layers on the GPU, fewer are tried (each retry is in
        ``LoadedModel.notes``). If the model cannot be loaded at all, the model loaded before is
        loaded again where it can be, and the error says so. ``on_progress(0.0 … 1.0)`` hears llama.cpp
        load the file; returning False cancels the load (a ModelLoadError that says so).
        """
        from app.core.engines.devices import list_devices
        from app.core.engines.file_watch import FileWatch
        from app.core.engines.llama_adapter import (
            apply_builtin_template,
            builtin_templates,
            control_token_texts,
            load_progress,
        )
        from app.core.engines.llama_embed import (
            check_chat_model,
            check_embedding_model,
            embedding_context,
            resident_bytes,
        )
        from app.core.engines.llama_open import open_llama
        from app.core.engines.llama_state import exact_states_only, state_space
        from app.core.engines.llama_vision import open_projector, projector_bytes
        from app.core.engines.memory_use import memory_use
        from app.core.engines.model_format import model_format, model_tokens
        from app.core.engines.offload import (
            ALL,
            LoadOptionError,
            check_options,
            flash_attention_on,
            placement_of,
            plan_offload,
            too_large,
        )
        from app.core.library.gguf_file import read_gguf

        info = read_gguf(path)  # raises ModelFileError with a human message
        (check_embedding_model if self.embedding else check_chat_model)(info)
        try:
            check_options(options)
        except LoadOptionError as exc:
            raise ModelLoadError(str(exc)) from None
        context = embedding_context(info, options) if self.embedding else 0
        sized = replace(options, context_size=context) if context else options
        report = list_devices()
        beside = 0 if self.embedding else projector_bytes(info, options)
        message = too_large(info, sized, report, beside, reserved=self.reserved_bytes)
        if message:
            raise ModelLoadError(message)
        plan = plan_offload(info, sized, report, beside)
        previous = (self.loaded.info.path, self.loaded.options) if self.loaded else None
        cancelled = False

        def watch(progress: float) -> bool:
            nonlocal cancelled
            cancelled = cancelled or not (on_progress is None or on_progress(progress))
            return not cancelled

        self.unload()
        try:
            with load_progress(None if on_progress is None else watch):
                llama, plan, seconds, notes = open_llama(info, options, plan, embedding_context=context)
        except ModelLoadError as failed:
            error = ModelLoadError(f"Loading {info.path.name} was cancelled.") if cancelled else failed
            if previous is None:
                raise error from None
            try:
                self.load(*previous)
            except HermesError as again:
                log.warning("could not load %s again: %s", previous[0], again)
                raise error from None
            raise ModelLoadError(f"{error} {previous[0].name} is loaded again.") from failed
        # add_eos_token is never applied to a prompt that asks for a reply (EOS would end it before the reply starts);
        # EOS and EOT end a reply as tokens (llama.cpp's end-of-generation set) and, spelled out as text, as stops.
        self._tokens = model_tokens(llama)
        prompt_format, has_template, format_notes = model_format(
            info, options.prompt_format, self._tokens, builtin_templates(), apply_builtin_template
        )
        notes = (*notes, *format_notes)
        self._llama, self._format, self._formats = llama, prompt_format, {}
        self._watch = FileWatch.of(info.path) if options.use_mmap else None
        self._guard = SpecialTextGuard(control_token_texts(llama))
        self._state_space = "" if self.embedding else state_space(info, options, llama, plan.layers)
        self._exact_states = exact_states_only(llama)
        placement = placement_of(plan, report, int(getattr(llama, "n_threads", 0) or options.cpu_threads))
        use = memory_use(info, llama.n_ctx(), options.kv_cache_type, placement.gpu_layers,
                         flash_attention_on(options, placement.gpu_layers))  # fmt: skip
        placement = replace(placement, ram=use.ram, vram=use.vram)
        meant_for_gpu = plan.device is not None or options.gpu_layers > 0 or options.gpu_layers == ALL
        if placement.gpu_layers == 0 and meant_for_gpu:
            notes = (*notes, placement.reason)  # never a silent CPU fallback
        try:
            flash = flash_attention_on(options, plan.layers)
            self._projector, said = (
                (None, ()) if self.embedding else open_projector(info, options, llama, placement.gpu_layers > 0, flash)
            )
        except ModelLoadError:
            self.unload()
            raise
        notes = (*notes, *said)
        if self._projector is not None:
            self.capabilities = replace(self._capabilities, vision=True)
        self.loaded = LoadedModel(
            info=info,
            context_size=llama.n_ctx(),
            load_seconds=seconds,
            prompt_format=prompt_format.name,
            bos_token=self._tokens.bos,
            eos_token=self._tokens.eos,
            has_template=has_template,
            add_bos=self._tokens.add_bos,
            format=prompt_format,
            placement=placement,
            notes=notes,
            options=options,
            resident_bytes=beside
            + resident_bytes(info, llama.n_ctx(), options.kv_cache_type, embedding=self.embedding),
            projector=self._projector.path if self._projector else None,
        )
        log.info("loaded %s (ctx %d) in %.2f s: %s (%s)", info.path, llama.n_ctx(), seconds, placement,
                 placement.reason)  # fmt: skip
        return self.loaded

    def unload(self) -> None:
        """Free the model now (not at garbage collection: a frozen app errors in ``Llama.__del__`` at exit)."""
        if self._projector is not None:
            self._projector.close()
        self._projector, self.capabilities = None, self._capabilities
        llama, self._llama, self._format, self.loaded = self._llama, None, None, None
        self._watch = None
        self._formats, self._state_space = {}, ""
        if self.state_cache is not None:
            self.state_cache.flush()  # states still being written reach the disk before the process may end
        if llama is not None:
            llama.close()

    def prompt_format(self, choice: str = AUTO, custom_template: str = "") -> PromptFormat:
        """The loaded model's format (``auto``), a named one, or a custom template; compiled once each."""
        if self._format is None or self.loaded is None:
            raise NoModelLoaded("Load a model first.")
        if choice == AUTO:
            return self._format
        key = (choice, custom_template)
        if key not in self._formats:
            self._formats[key] = resolve_format(
                choice,
                custom_template=custom_template,
                bos_token=self.loaded.bos_token,
                eos_token=self.loaded.eos_token,
                add_bos=self.loaded.add_bos,
            )
        return self._formats[key]

    def render_prompt(
        self, messages: Sequence[ChatMessage], prompt_format: PromptFormat | None = None
    ) -> RenderedPrompt:
        return (prompt_format or self.prompt_format()).render(self._guard.messages(messages))

    def prompt_tokens(self, rendered: RenderedPrompt, continue_text: str = "") -> list[int]:
        """The tokens a rendered prompt is sent as: BOS exactly once where the GGUF asks for it (or the text has it)."""
        llama = self._require()
        text = rendered.text + self._guard.text(continue_text)
        ids = llama.tokenize(text.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        return bos_once_ids(ids, llama.token_bos(), self._tokens.add_bos)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in a chat prompt; for an embedding model, what ``embed`` reads for it (its special
        tokens included: [CLS] and [SEP] for BERT), the figure to keep under ``loaded.context_size``."""
        if self.embedding:
            return len(self._require().tokenize(text.encode("utf-8")))
        return len(self._require().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def embed(self, texts: Sequence[str], should_stop: Callable[[], bool] = lambda: False) -> Embeddings:
        """One L2-normalised vector per text, batched (see engines.llama_embed.embed_batch)."""
        from app.core.engines.llama_embed import embed_batch

        llama = self._require()
        if not self.embedding:
            raise HermesError("The chat model gives no embeddings here: load an embedding model for them.")
        self._check_file()
        assert self.loaded is not None
        return embed_batch(llama, texts, self.loaded.name, should_stop)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        sampling: Sampling = Sampling(),
        should_stop: Callable[[], bool] = lambda: False,
        prompt_format: PromptFormat | None = None,
        *,
        context_policy: str = ContextPolicy.STOP,
        continue_text: str = "",
        on_prompt_progress: Callable[[int, int], None] | None = None,
        grammar: str = "",
        tools: Sequence[dict[str, Any]] = (),
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Generation:
        """Start a reply; iterate the result for text pieces. ``should_stop`` is checked between tokens.

        ``context_policy`` decides what happens when the conversation does not fit (see app.core.prompting.context);
        ``continue_text`` is a partial reply to carry on from (the model continues it, not a new turn);
        ``on_prompt_progress(done, total)`` hears about a long prompt's processing, batch by batch;
        ``grammar`` (GBNF) constrains the reply (the server's JSON mode, a forced tool call);
        ``tools`` (OpenAI function tools) are rendered into the prompt by the template (``prompting.tool_prompt``);
        ``tool_choice`` is for remote engines: here a forced call is the ``grammar``'s work.
        """
        from app.core.engines.grammar_build import compile_grammar
        from app.core.engines.llama_reply import HeldModel, reply_pieces  # what a reply needs, on its first use
        from app.core.engines.llama_vision import default_marker, image_candidates
        from app.core.prompting.media import with_media_markers

        llama = self._require()
        if self.embedding:
            raise HermesError("An embedding model cannot chat: load a chat model to reply.")
        self._check_file()
        prompt_format = prompt_format or self.prompt_format()
        n_ctx = llama.n_ctx()
        reserve = max(1, min(sampling.max_tokens, n_ctx // 4))
        images = image_candidates(messages, self._projector, self.loaded.name if self.loaded else "The model")

        # Each candidate the policy tries is rendered and tokenized once; the one it keeps is sent as is.
        # (Candidates differ only in how many old messages they leave out, so their length identifies them.)
        tokenized: dict[int, tuple[RenderedPrompt, list[int]]] = {}

        def count(candidate: Sequence[ChatMessage]) -> int:
            if images is not None:  # tokenized by mtmd, with the images' tokens
                rendered = prompt_format.render(with_media_markers(candidate, default_marker()), tools)
                tokenized[len(candidate)] = (rendered, [])
                text = rendered.text + self._guard.text(continue_text)
                return images.count(candidate, text, add_special=not rendered.added_special)
            rendered = prompt_format.render(candidate, tools)
            ids = self.prompt_tokens(rendered, continue_text)
            tokenized[len(candidate)] = (rendered, ids)
            return len(ids)

        try:
            fitted = fit_to_context(self._guard.messages(messages), count, n_ctx - reserve, context_policy)
        except ContextOverflow as exc:
            if images is not None:
                images.free()
            raise ContextFullError(str(exc)) from None
        prompt, tokens = tokenized[len(fitted.messages)]
        chosen = images.take(len(fitted.messages)) if images is not None else None
        if chosen is None and not tokens:  # llama-cpp-python asserts on an empty prompt (the server fuzz suite: a 500)
            raise HermesError("The prompt is empty: there is nothing for the model to read.")
        needed = chosen.n_pos if chosen is not None else len(tokens)
        room = n_ctx - needed
        try:
            if room < 1:
                what = "The conversation and its images need" if chosen is not None else "The conversation needs"
                raise ContextFullError(
                    f"{what} {needed:,} tokens but the context holds {n_ctx:,}. "
                    "Start a new chat, shorten the conversation, or load the model with a larger context."
                )
            compiled = compile_grammar(grammar) if grammar else None
        except HermesError:
            if chosen is not None:
                chosen.free()
            raise
        generation = Generation(pieces=iter(()), prompt=prompt)
        generation.stats = GenerationStats(
            prompt_tokens=chosen.n_tokens if chosen is not None else len(tokens),
            context_size=n_ctx,
            dropped_messages=fitted.dropped,
            dropped_start=fitted.dropped_start,
            image_tokens=chosen.image_tokens if chosen is not None else 0,
        )
        held = HeldModel(
            llama=llama,
            projector=self._projector,
            state_cache=self.state_cache,
            state_space=self._state_space,
            exact_states=self._exact_states,
            draft_length=self.loaded.options.prompt_lookup if self.loaded is not None else 0,
            file_changed=self._file_changed,
            stale_error=self._stale_file,
            unload=self.unload,
        )
        generation.pieces = reply_pieces(
            held,
            tokens,
            max_tokens=min(sampling.max_tokens, room),
            sampling=sampling,
            stop=list(dict.fromkeys(prompt.stop + self._tokens.end_texts + sampling.stop)),
            should_stop=should_stop,
            stats=generation.stats,
            on_prompt_progress=on_prompt_progress,
            grammar=compiled,
            vision=chosen,
        )
        return generation

    def _file_changed(self) -> bool:
        """Whether the mapped model file was overwritten in place since the load: see engines/file_watch.py."""
        return self._watch is not None and self._watch.changed_in_place()

    def _stale_file(self) -> ModelFileError:
        assert self._watch is not None
        log.warning("%s changed on disk while loaded; unloading it", self._watch.path)
        return self._watch.error()

    def _check_file(self) -> None:
        if self._file_changed():
            error = self._stale_file()
            self.unload()
            raise error

    def _require(self) -> Llama:
        if self._llama is None:
            raise NoModelLoaded("Load a model first.")
        return self._llama
