"""KL to the target after prefilling k answer tokens (TOFU): how deep does the unlearning go?

Each forget answer is teacher-forced after its question through the attacked model and the target
(the model before unlearning). For each k, the score is the mean per-token KL(target ‖ attacked)
over the answer tokens after the first k (EOS included), given the question and the first k answer
tokens, plus the attacked model's p_norm of those remaining tokens. One forward pass per model
gives every k: the distribution at a position depends only on the tokens before it. A KL that is
already low at small k is shallow unlearning: once the answer has started, the model is the target
again. Items with no more than k answer tokens are left out at that k (``items`` counts the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from unlearnkit.attacks.context import AttackContext, AttackResult
from unlearnkit.attacks.forget import eval_mode
from unlearnkit.attacks.params import int_list
from unlearnkit.attacks.references import load_reference, reference_path, required
from unlearnkit.benchmarks.tofu import forget_records
from unlearnkit.data.collate import pad_batch
from unlearnkit.data.formatting import encode_qa
from unlearnkit.eval.metrics.tofu import probability
from unlearnkit.eval.tofu import reindexed
from unlearnkit.logprobs import response_mask, shift


@dataclass
class PrefillKLParams:
    k: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6, 8])
    target: str | None = None  # the target model (default: the run's start, else the world's)

    def __post_init__(self):
        self.k = int_list(self.k, "k", 0)
        self.target = str(self.target) if self.target else None


def token_kl(target_logits: torch.Tensor, attacked_logits: torch.Tensor) -> torch.Tensor:
    """KL(target ‖ attacked) of the next-token distributions at every position, shape (B, T)."""
    p = torch.log_softmax(target_logits.float(), dim=-1)
    q = torch.log_softmax(attacked_logits.float(), dim=-1)
    return (p.exp() * (p - q)).sum(-1)


def after_k(values: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Per row, the mean of ``values`` over its response positions after the first k (nan if none)."""
    seen = mask.cumsum(-1)  # 1 at the first response position
    keep = mask * (seen > k)
    return (values * keep).sum(-1) / keep.sum(-1)


@torch.no_grad()
def item_curves(model, target, tok, encoded: list, ks: list[int], batch_size: int) -> list[dict]:
    """Per item: ``n_tokens`` and, per k, the KL after k, next-token KL at k and the mean NLLs."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(encoded), batch_size):
        batch = {
            k: v.to(device)
            for k, v in pad_batch(encoded[start : start + batch_size], tok.pad_token_id).items()
        }
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        a_logits, t_logits = model(**inputs).logits, target(**inputs).logits
        a_logits, labels = shift(a_logits, batch["labels"])
        t_logits = t_logits[:, :-1]
        mask = response_mask(labels)
        kl = token_kl(t_logits, a_logits)
        safe = labels.clamp(min=0).unsqueeze(-1)
        nll_a = -torch.log_softmax(a_logits.float(), -1).gather(-1, safe).squeeze(-1)
        nll_t = -torch.log_softmax(t_logits.float(), -1).gather(-1, safe).squeeze(-1)
        first = mask.argmax(-1)  # the first response position of each row
        for row in range(len(labels)):
            curve = {}
            for k in ks:
                at = int(first[row]) + k
                curve[k] = {
                    "kl": float(after_k(kl[row], mask[row], k)),
                    "next_kl": float(kl[row, at]) if at < mask.shape[1] else float("nan"),
                    "nll": float(after_k(nll_a[row], mask[row], k)),
                    "target_nll": float(after_k(nll_t[row], mask[row], k)),
                }
            out.append({"n_tokens": int(mask[row].sum()), "curve": curve})
    return out


def mean(values: list[float]) -> float:
    return float(torch.tensor(values).mean()) if values else float("nan")


def prefill_kl_attack(model, tok, ctx: AttackContext, p: PrefillKLParams) -> list[AttackResult]:
    path = required(reference_path(ctx, "target", p.target), "target", "prefill_kl")
    records, picked = ctx.settings.subset(forget_records(ctx.data, ctx.split))
    encoded = [encode_qa(tok, r["question"], r["answer"], ctx.settings.max_length) for r in records]
    target = load_reference(path, model, "target")
    with eval_mode(model):
        # two models' full (B, T, V) logits and their log-softmaxes at once: batches of 8 at most
        curves = item_curves(model, target, tok, encoded, p.k, min(ctx.settings.batch_size, 8))
    del target
    eos = 1 if tok.eos_token_id is not None else 0
    results = []
    for k in p.k:
        rows = [
            {"question": r["question"], "n_tokens": c["n_tokens"], **c["curve"][k]}
            for r, c in zip(records, curves)
        ]
        kept = [row for row in reindexed(rows, picked) if row["n_tokens"] - eos > k]
        metrics = {
            "forget_kl": mean([r["kl"] for r in kept]),
            "forget_next_kl": mean([r["next_kl"] for r in kept]),
            "forget_probability": mean([probability(r["nll"]) for r in kept]),
            "target_probability": mean([probability(r["target_nll"]) for r in kept]),
        }
        extra = {"items": len(kept), "target": path}
        results.append(AttackResult(f"k={k}", k, metrics, {"forget": kept}, extra))
    return results
