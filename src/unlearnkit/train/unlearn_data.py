"""The unlearning dataset and collator.

Item i is one forget example (a QA pair, or one ``max_length`` chunk of a text) with what the method
needs beside it: a retain example (a seeded permutation of the retain set, cycled so successive
epochs pair it with different ones), its K−1 normal examples and a refusal (the IDK target, FLAT's
template). The collator pads each part into ``batch[part]`` and adds ``batch["index"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset
from transformers import TrainerCallback

from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import Encoded, encode_qa, encode_text
from unlearnkit.data.samples import Sample, UnlearningCorpus
from unlearnkit.errors import UserError
from unlearnkit.logprobs import IGNORE_INDEX
from unlearnkit.methods.base import MethodNeeds
from unlearnkit.methods.sga.normal_data import generate_normal, load_normal_file, nearest_neighbours
from unlearnkit.methods.templates import pick_refusal


@dataclass(frozen=True)
class Item:
    """One encoded example, the sample it came from (its index) and its text for embeddings."""

    encoded: Encoded
    sample: int
    text: str


def encode_samples(tokenizer, samples: Sequence[Sample], max_length: int) -> list[Item]:
    """QA pairs become one example each; texts one example per ``max_length`` chunk."""
    items = []
    for i, s in enumerate(samples):
        if s.is_qa:
            items.append(
                Item(
                    encode_qa(tokenizer, s.question, s.text, max_length),
                    i,
                    f"{s.question} {s.text}",
                )
            )
            continue
        for chunk in encode_text(tokenizer, s.text, max_length):
            if any(label != IGNORE_INDEX for label in chunk.labels[1:]):
                text = tokenizer.decode(chunk.input_ids, skip_special_tokens=True)
                items.append(Item(chunk, i, text))
    return items


def refusal_example(
    tokenizer, sample: Sample, item: Item, refusal: str, max_length: int
) -> Encoded:
    """(x_f, refusal): the QA prompt, or for a text chunk its first half as the prompt."""
    if sample.is_qa:
        return encode_qa(tokenizer, sample.question, refusal, max_length)
    return chunk_pair(tokenizer, item, refusal, max_length)[1]


def chunk_pair(tokenizer, item: Item, refusal: str, max_length: int) -> tuple[Encoded, Encoded]:
    """A text chunk as (prompt → its continuation, prompt → refusal), with the same prompt.

    The prompt is the chunk's first half, cut from the left where the refusal would not fit.
    """
    ids, labels = item.encoded.input_ids, item.encoded.labels
    half = max(1, len(ids) // 2)
    response = list(tokenizer(" " + refusal, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        response.append(tokenizer.eos_token_id)
    response = response[: max(1, max_length - 1)]
    start = max(0, half - max(1, max_length - len(response)))
    prompt = ids[start:half]
    forget = Encoded(ids[start:], [IGNORE_INDEX] * len(prompt) + list(labels[half:]))
    return forget, Encoded(prompt + response, [IGNORE_INDEX] * len(prompt) + response)


def _encode_record(tokenizer, record: dict, max_length: int) -> Encoded:
    if "question" in record:
        return encode_qa(tokenizer, record["question"], record["answer"], max_length)
    return encode_text(tokenizer, record["text"], max_length)[0]


def normal_examples(
    tokenizer,
    needs: MethodNeeds,
    forget: list[Item],
    retain: list[Item],
    n_samples: int,
    max_length: int,
    cache_dir: Path | None,
) -> list[list[Encoded]]:
    """``needs.normal`` normal examples per forget item, from ``needs.normal_source``."""
    k, source = needs.normal, needs.normal_source
    if source.kind == "retain_nn":
        nn = nearest_neighbours(
            [it.text for it in forget], [it.text for it in retain], k, cache_dir
        )
        return [[retain[j].encoded for j in row] for row in nn]
    if source.kind == "file":
        records = load_normal_file(source.file, n_samples, k)
    else:
        first_text = {}
        for it in forget:
            first_text.setdefault(it.sample, it.text)
        records = generate_normal(source, [first_text[i] for i in range(n_samples)], k, cache_dir)
    encoded = [[_encode_record(tokenizer, r, max_length) for r in row] for row in records]
    return [encoded[it.sample] for it in forget]


class UnlearnDataset(Dataset):
    """Forget items with their paired retain / normal / refusal examples (only those asked for)."""

    def __init__(
        self,
        forget: list[Encoded],
        retain: list[Encoded] | None = None,
        normal: list[list[Encoded]] | None = None,
        idk: list[Encoded] | None = None,
        seed: int = 0,
    ):
        if not forget:
            raise UserError("the forget set is empty; nothing to unlearn")
        self.forget, self.retain, self.normal, self.idk = forget, retain, normal, idk
        self.epoch = 0
        if retain is not None:
            if not retain:
                raise UserError("this method needs retain data but the retain set is empty")
            gen = torch.Generator().manual_seed(seed)
            self.retain_order = torch.randperm(len(retain), generator=gen).tolist()

    def set_epoch(self, epoch: int) -> None:
        """Moves the retain pairing on by one cycle an epoch (see :class:`EpochPairing`)."""
        self.epoch = epoch

    def retain_index(self, i: int) -> int:
        return self.retain_order[(self.epoch * len(self.forget) + i) % len(self.retain)]

    def __len__(self) -> int:
        return len(self.forget)

    def __getitem__(self, i: int) -> dict:
        item: dict = {"index": i, "forget": self.forget[i]}
        if self.retain is not None:
            item["retain"] = self.retain[self.retain_index(i)]
        if self.normal is not None:
            item["normal"] = self.normal[i]
        if self.idk is not None:
            item["idk"] = self.idk[i]
        return item


class EpochPairing(TrainerCallback):
    """Sets the dataset's epoch at the start of every epoch, a resumed one included.

    accelerate's loader forwards ``set_epoch`` to the dataset only in some configurations: not to
    the loader that skips the done batches of a resumed epoch, which then paired the forget rows
    with epoch 0's retain rows (and, before accelerate 1.4-ish, shuffled them in epoch 0's order:
    the original loader's sampler, which the skipping loader shares, gets the epoch here too). ``state.epoch`` is the epoch index at a fresh epoch's start and a
    fraction inside it on resume, so its floor is the epoch either way.
    """

    def __init__(self, dataset: UnlearnDataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        epoch = int(state.epoch or 0)
        self.dataset.set_epoch(epoch)
        if hasattr(
            train_dataloader, "set_epoch"
        ):  # its sampler also serves a resumed epoch's loader
            train_dataloader.set_epoch(epoch)


class UnlearnCollator:
    """Pads each requested part (right padding); ``normal`` rows are flattened forget-major."""

    def __init__(self, pad_id: int, parts: Sequence[str]):
        self.pad_id, self.parts = pad_id, tuple(parts)

    def __call__(self, items: Sequence[dict]) -> dict:
        batch: dict = {"index": torch.tensor([it["index"] for it in items], dtype=torch.long)}
        for part in self.parts:
            rows = (
                [e for it in items for e in it[part]]
                if part == "normal"
                else [it[part] for it in items]
            )
            batch[part] = pad_batch(rows, self.pad_id)
        return batch


def build_unlearn_dataset(
    tokenizer,
    corpus: UnlearningCorpus,
    needs: MethodNeeds,
    max_length: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> UnlearnDataset:
    """Encode the corpus and attach what ``needs`` asks for."""
    forget = encode_samples(tokenizer, corpus.forget, max_length)
    if not forget:
        raise UserError(
            f"the {corpus.benchmark} forget split '{corpus.split}' has no tokens to unlearn"
        )
    want_retain = (
        needs.retain or needs.normal_source is not None and needs.normal_source.kind == "retain_nn"
    )
    retain = encode_samples(tokenizer, corpus.retain, max_length) if want_retain else []
    normal = idk = None
    if needs.normal > 0:
        cache = Path(cache_dir) if cache_dir else None
        normal = normal_examples(
            tokenizer, needs, forget, retain, len(corpus.forget), max_length, cache
        )
    forget_rows = [it.encoded for it in forget]
    if needs.idk:
        idk = []
        for i, it in enumerate(forget):
            sample, refusal = corpus.forget[it.sample], pick_refusal(i, seed)
            if sample.is_qa:
                idk.append(encode_qa(tokenizer, sample.question, refusal, max_length))
                continue
            pair = chunk_pair(tokenizer, it, refusal, max_length)
            idk.append(pair[1])
            if needs.forget:  # FLAT, IDK-DPO: the forget continuation under the refusal's prompt
                forget_rows[i] = pair[0]
    return UnlearnDataset(
        forget_rows,
        [it.encoded for it in retain] if needs.retain else None,
        normal,
        idk,
        seed,
    )
