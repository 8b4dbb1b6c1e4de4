"""TOFU (locuslab/TOFU): QA about fictitious authors; forget quality against the retain model."""

from __future__ import annotations

from unlearnkit.benchmarks.base import Benchmark, MetricSpec, Rows

DEFAULT_SPLIT = "forget10"


class TOFU(Benchmark):
    name = "tofu"
    title = "TOFU: forgetting vs. utility"
    caption = (
        "forget_quality: higher is better; 1.0 means indistinguishable from the retain model (shown as 1.2e-05 style: "
        "compare exponents). model_utility and retain_rouge: higher is better. forget_rouge, forget_truth_ratio, "
        "forget_probability and the Min-K% membership AUC: lower means less remembered, but the goal is to be close to "
        "the retain row, which never saw the forget set. privleak (that AUC against the retain model's): ≈ 0 is "
        "ideal; strongly negative means it still remembers."
    )
    default_split = DEFAULT_SPLIT
    prompt_attacks = True
    train_time_column = True
    metrics = (
        MetricSpec("forget_quality", "higher", scientific=True),
        MetricSpec("model_utility", "higher"),
        MetricSpec("forget_truth_ratio", "retain", fallback="higher", recovery=-1),
        MetricSpec("forget_rouge", "retain", recovery=+1),
        MetricSpec("retain_rouge", "higher"),
        MetricSpec("mia_mink", "retain", fallback=0.5, label="mia_mink AUC"),
        MetricSpec("privleak", "zero", digits=1),
        MetricSpec("forget_probability", "retain", recovery=+1),
    )
    attacked = ("forget_rouge", "forget_probability", "forget_truth_ratio", "forget_quality")

    def eval_split(self, split):
        return split or DEFAULT_SPLIT

    def attack_split(self, split):
        return None  # TOFU names its forget splits; a count means nothing here

    def forget_split(self, ctx):
        return ctx.split

    def training_records(self, data, split):
        from unlearnkit.data.tofu import load_tofu

        return [(r["question"], r["answer"]) for r in load_tofu(data, split)], []

    def check_data(self, data, split):
        from unlearnkit.data.tofu import forget_split_names, load_tofu, tofu_source

        source = tofu_source(data)
        if source.folder is None:
            return
        names = forget_split_names(split or DEFAULT_SPLIT)
        for config in (
            names["forget_eval"],
            names["retain_eval"],
            "real_authors_perturbed",
            "world_facts_perturbed",
        ):
            load_tofu(source, config)
        if (source.folder / f"{names['holdout']}.json").is_file():
            load_tofu(source, names["holdout"])
            load_tofu(source, names["forget"])

    def rows(self, model, tok, data, split, settings) -> Rows:
        from unlearnkit.eval.tofu import tofu_rows

        return tofu_rows(model, tok, data, split or DEFAULT_SPLIT, settings)

    def aggregate(self, rows, reference):
        from unlearnkit.eval.metrics import aggregate as agg

        return agg.tofu_aggregate(
            rows,
            _same_items(rows, reference),
            _retain_mia_mink(rows, reference),
            _same_validation_items(rows, reference),
        )

    def retain_reference(self, retain_eval):
        from unlearnkit.errors import UserError
        from unlearnkit.eval.metrics import aggregate as agg
        from unlearnkit.eval.results import read_rows

        rows = read_rows(retain_eval)
        if agg.FORGET not in rows:
            raise UserError(
                f"{retain_eval} has no forget items; evaluate the retain model on the same TOFU split"
            )
        return {
            "retain_truth_ratios": agg.item_truth_ratios(rows[agg.FORGET]),
            "retain_indices": [r.get("index", i) for i, r in enumerate(rows[agg.FORGET])],
            "retain_mia": {s: rows[s] for s in (agg.MIA_MEMBERS, agg.MIA_NONMEMBERS) if s in rows},
            "retain_validation": rows.get(agg.VALIDATION),
        }

    def forget_rows(self, model, tok, ctx):
        from unlearnkit.eval.metrics import aggregate as agg
        from unlearnkit.eval.tofu import perturbed_rows, reindexed

        records, picked = ctx.settings.subset(forget_records(ctx.data, ctx.split))
        rows = perturbed_rows(model, tok, records, ctx.settings, "forget")
        return {agg.FORGET: reindexed(rows, picked)}

    def samples(self, data, split, retain_file):
        from unlearnkit.data.samples import Sample, read_retain
        from unlearnkit.data.tofu import forget_split_names, load_tofu

        names = forget_split_names(split)
        forget = [Sample.from_record(r) for r in load_tofu(data, names["forget"])]
        if retain_file is not None:
            return forget, read_retain(retain_file), f"file:{retain_file}", split
        retain = [Sample.from_record(r) for r in load_tofu(data, names["retain"])]
        return forget, retain, f"tofu:{names['retain']}", split


def forget_records(data, split: str) -> list[dict]:
    """The forget split's eval records (question, answer, paraphrase, perturbed answers)."""
    from unlearnkit.data.tofu import forget_split_names, load_tofu

    return load_tofu(data, forget_split_names(split)["forget_eval"])


def retain_records(data, split: str) -> list[dict]:
    """The QA pairs of the retain split that goes with the forget split (forget10 → retain90)."""
    from unlearnkit.data.tofu import forget_split_names, load_tofu

    return load_tofu(data, forget_split_names(split)["retain"])


def _same_items(rows: Rows, reference: dict) -> list[float] | None:
    """The retain model's forget truth ratios of the items these rows scored.

    An eval of a subset (``eval.max_items``) is compared with the retain model on the same items:
    forget quality's KS test then sets two samples of one set of questions side by side.
    """
    from unlearnkit.errors import UserError
    from unlearnkit.eval.metrics import aggregate as agg

    ratios = reference.get("retain_truth_ratios")
    indices = reference.get("retain_indices")
    forget = rows.get(agg.FORGET)
    if ratios is None or indices is None or forget is None:
        return ratios
    wanted = [r.get("index", i) for i, r in enumerate(forget)]
    if wanted == indices:
        return ratios
    by_index = dict(zip(indices, ratios, strict=True))
    missing = [i for i in wanted if i not in by_index]
    if missing:
        raise UserError(
            f"the retain model's eval lacks {len(missing)} of the forget items scored here "
            f"(e.g. item {missing[0]}); evaluate it on at least the same items"
        )
    return [by_index[i] for i in wanted]


def _same_validation_items(rows: Rows, reference: dict) -> list[float] | None:
    """The retain model's validation truth ratios when it scored the same validation items as
    these rows (validation_quality's reference); None otherwise."""
    from unlearnkit.eval.metrics import aggregate as agg

    theirs, ours = reference.get("retain_validation"), rows.get(agg.VALIDATION)
    if not theirs or not ours:
        return None
    if [r.get("index", i) for i, r in enumerate(theirs)] != [
        r.get("index", i) for i, r in enumerate(ours)
    ]:
        return None
    return agg.item_truth_ratios(theirs)


def _retain_mia_mink(rows: Rows, reference: dict) -> float | None:
    """The retain model's Min-K% AUC on the forget and holdout items these rows scored (privleak's
    reference, as open-unlearning's TOFU privleak takes it); None without MIA rows on both sides."""
    from unlearnkit.errors import UserError
    from unlearnkit.eval.metrics import aggregate as agg
    from unlearnkit.eval.metrics import mia

    retain = reference.get("retain_mia") or {}
    sides = (agg.MIA_MEMBERS, agg.MIA_NONMEMBERS)
    if not all(s in rows and s in retain for s in sides):
        return None
    picked = []
    for side in sides:
        by_index = {r.get("index", i): r for i, r in enumerate(retain[side])}
        wanted = [r.get("index", i) for i, r in enumerate(rows[side])]
        missing = [i for i in wanted if i not in by_index]
        if missing:
            raise UserError(
                f"the retain model's eval lacks {len(missing)} of the {side} items scored here "
                f"(e.g. item {missing[0]}); evaluate it on at least the same items"
            )
        picked.append([by_index[i] for i in wanted])
    return agg.mia_aggregate(*picked).get(f"mia_{mia.MINK}")
