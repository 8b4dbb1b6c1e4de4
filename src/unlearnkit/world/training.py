"""Initialise the world's model (a small Llama, or a pretrained base) and train it through
`unlearn finetune`'s code."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from unlearnkit.train.examples import build_examples
from unlearnkit.train.finetune import FinetuneConfig, finetune
from unlearnkit.world.corpus import Corpus
from unlearnkit.world.presets import WorldPreset


def new_world_model(preset: WorldPreset, tokenizer, seed: int):
    """A fresh small Llama of the preset's size, or the preset's pretrained base model."""
    if preset.base is not None:
        from transformers import AutoModelForCausalLM

        from unlearnkit.base_models import resolve_base

        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_pretrained(resolve_base(preset.base), dtype=torch.float32)
    size = preset.model
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_heads,
        max_position_embeddings=size.max_position,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def world_finetune_config(preset: WorldPreset, seed: int) -> FinetuneConfig:
    plan = preset.train
    return FinetuneConfig(
        epochs=plan.epochs,
        learning_rate=plan.learning_rate,
        batch_size=plan.batch_size,
        max_length=plan.max_length,
        warmup_ratio=plan.warmup_ratio,
        weight_decay=0.0,
        lr_scheduler="cosine",
        seed=seed,
        logging_steps=20,
    )


def train_world_model(
    preset: WorldPreset, seed: int, tokenizer, corpus: Corpus, out: Path, progress: bool
) -> dict:
    model = new_world_model(preset, tokenizer, seed)
    examples = build_examples(
        tokenizer, qa=corpus.qa, texts=corpus.texts, max_length=preset.train.max_length
    )
    return finetune(
        model, tokenizer, examples, out, world_finetune_config(preset, seed), progress=progress
    )
