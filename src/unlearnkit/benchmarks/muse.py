"""MUSE (muse-bench/MUSE-News, -Books): verbatim and knowledge memorisation, privacy leakage."""

from __future__ import annotations

from pathlib import Path

from unlearnkit.benchmarks.base import Benchmark, MetricSpec, Rows
from unlearnkit.errors import UserError

RETAIN_PARTS = ("raw_retain1", "raw_retain2")  # what a run may train on to keep utility

# The parts the evaluation reads when they are present (it skips absent ones).
EVAL_PARTS = (
    "verbmem_forget",
    "knowmem_forget",
    "knowmem_forget_icl",
    "knowmem_retain",
    "knowmem_retain_icl",
    "privleak_forget",
    "privleak_holdout",
)


class MUSE(Benchmark):
    name = "muse"
    title = "MUSE: memorisation, knowledge and privacy"
    caption = (
        "ROUGE on the 0–100 scale. verbmem_f and knowmem_f: how much of the forget corpus the model still reproduces / "
        "answers; lower is better, ideally close to the retain row. knowmem_r: knowledge it should keep; higher is "
        "better. privleak: ≈ 0 is ideal; strongly negative means it still remembers, strongly positive means it was "
        "over-unlearned."
    )
    default_split = "forget"
    metrics = (
        MetricSpec("verbmem_f", "retain", digits=1, scale=100, recovery=+1),
        MetricSpec("knowmem_f", "retain", digits=1, scale=100, recovery=+1),
        MetricSpec("knowmem_r", "higher", digits=1, scale=100),
        MetricSpec("privleak", "zero", digits=1),
    )
    attacked = ("verbmem_f", "knowmem_f")

    def training_records(self, data, split):
        """A QA part as pairs, a completion part as prompt + continuation, a raw part as texts."""
        from unlearnkit.data.muse import MUSE_PARTS, load_muse

        records = load_muse(data, split)
        kind = MUSE_PARTS[split][3]
        if kind == "qa":
            return [(r["question"], r["answer"]) for r in records], []
        if kind == "completion":
            return [], [r["prompt"] + r["gt"] for r in records]
        return [], records

    def check_data(self, data, split):
        from unlearnkit.data.muse import has_muse_part, load_muse, muse_source

        source = muse_source(data)
        if source.folder is None:
            return
        for part in EVAL_PARTS:
            if has_muse_part(source, part):
                load_muse(source, part)

    def rows(self, model, tok, data, split, settings) -> Rows:
        from unlearnkit.eval.muse import muse_rows

        return muse_rows(model, tok, data, settings)

    def aggregate(self, rows, reference):
        from unlearnkit.eval.metrics import aggregate as agg

        return agg.muse_aggregate(rows, reference.get("retain_mia_mink"))

    def retain_reference(self, retain_eval):
        from unlearnkit.eval.results import read_metrics

        return {"retain_mia_mink": read_metrics(retain_eval)["metrics"].get("mia_mink")}

    def forget_rows(self, model, tok, ctx):
        return forget_side_rows(model, tok, ctx)

    def samples(self, data, split, retain_file):
        """The raw forget texts; retain: raw retain1 + retain2 texts, never the QA knowmem_r scores."""
        from unlearnkit.data.muse import has_muse_part, load_muse, muse_source
        from unlearnkit.data.samples import text_corpus

        source = muse_source(data)
        if retain_file is not None:
            _check_not_an_eval_part(source, retain_file)

        def raw_retain() -> tuple[list[str], str]:
            parts = [p for p in RETAIN_PARTS if has_muse_part(source, p)]
            if not parts:
                raise UserError(
                    f"MUSE data at {source.describe()} has no raw retain texts (raw/retain1.json, "
                    "raw/retain2.json) and unlearnkit will not train on knowmem/retain2_qa.json, the QA "
                    "that knowmem_r scores: add the raw retain texts or give a retain file"
                )
            return [t for p in parts for t in load_muse(source, p)], "muse:" + "+".join(parts)

        return text_corpus(
            load_muse(source, "raw_forget"), split, self.name, retain_file, raw_retain
        )


def forget_side_rows(model, tok, ctx) -> Rows:
    """verbmem and knowmem rows of the forget side (what attacks re-evaluate)."""
    from unlearnkit.data.muse import has_muse_part, load_muse, muse_source
    from unlearnkit.eval.metrics import aggregate as agg
    from unlearnkit.eval.muse import knowmem_rows, verbmem_rows
    from unlearnkit.eval.tofu import reindexed

    source, s = muse_source(ctx.data), ctx.settings
    rows: dict[str, list[dict]] = {}
    if has_muse_part(source, "verbmem_forget"):
        records, picked = s.subset(load_muse(source, "verbmem_forget"))
        rows[agg.VERBMEM_F] = reindexed(verbmem_rows(model, tok, records, s), picked)
    if has_muse_part(source, "knowmem_forget"):
        has_icl = has_muse_part(source, "knowmem_forget_icl")
        icl = load_muse(source, "knowmem_forget_icl") if has_icl else []
        records, picked = s.subset(load_muse(source, "knowmem_forget"))
        knowmem = knowmem_rows(model, tok, records, icl, s, agg.KNOWMEM_F)
        rows[agg.KNOWMEM_F] = reindexed(knowmem, picked)
    if not rows:
        raise UserError("the MUSE data has neither verbmem_forget nor knowmem_forget to attack")
    return rows


def _check_not_an_eval_part(source, retain_file: Path) -> None:
    """A retain file must not be one of the MUSE parts that the evaluation scores."""
    from unlearnkit.data.muse import MUSE_PARTS

    if source.folder is None:
        return
    target = retain_file.resolve()
    for part, (rel, *_rest) in MUSE_PARTS.items():
        if part not in RETAIN_PARTS and (source.folder / rel).resolve() == target:
            raise UserError(
                f"the retain file {retain_file} is the MUSE eval part '{part}'; "
                "unlearnkit never trains on an evaluation set"
            )
