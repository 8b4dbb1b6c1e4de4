"""The copyright setting: continuations of a protected text, against the retain model's."""

from __future__ import annotations

from unlearnkit.benchmarks.base import Benchmark, MetricSpec, Rows


class Copyright(Benchmark):
    name = "copyright"
    title = "Copyright: continuations of the forget text"
    caption = (
        "copyright_bleu and copyright_rougeL: how closely continuations of the forget text match the real ones; close "
        "to the retain row is the goal. copyright_fq_gap: distance to the retain model, lower is better. ppl: lower "
        "is better; utility_accuracy: higher is better."
    )
    default_split = "forget"
    metrics = (
        MetricSpec("copyright_bleu", "retain", recovery=+1),
        MetricSpec("copyright_rougeL", "retain", recovery=+1),
        MetricSpec("copyright_fq_gap", "lower"),
        MetricSpec("ppl", "lower", digits=2),
        MetricSpec("utility_accuracy", "higher"),
    )
    attacked = ("copyright_rougeL", "copyright_bleu", "copyright_fq_gap")

    def check_data(self, data, split):
        from unlearnkit.data.copyright import copyright_source, load_copyright

        source = copyright_source(data)
        for part in ("prompts", "heldout", "forget"):
            load_copyright(source, part)

    def rows(self, model, tok, data, split, settings) -> Rows:
        from unlearnkit.eval.copyright import copyright_rows

        return copyright_rows(model, tok, data, settings)

    def aggregate(self, rows, reference):
        from unlearnkit.eval.metrics import aggregate as agg

        return agg.copyright_aggregate(
            rows, reference.get("retain_bleu"), reference.get("retain_rougeL")
        )

    def retain_reference(self, retain_eval):
        from unlearnkit.eval.results import read_metrics

        metrics = read_metrics(retain_eval)["metrics"]
        return {
            "retain_bleu": metrics.get("copyright_bleu"),
            "retain_rougeL": metrics.get("copyright_rougeL"),
        }

    def forget_rows(self, model, tok, ctx):
        from unlearnkit.data.copyright import load_copyright
        from unlearnkit.eval.copyright import continuation_rows
        from unlearnkit.eval.metrics import aggregate as agg
        from unlearnkit.eval.tofu import reindexed

        prompts, picked = ctx.settings.subset(load_copyright(ctx.data, "prompts"))
        rows = continuation_rows(model, tok, prompts, ctx.settings)
        return {agg.CONTINUATIONS: reindexed(rows, picked)}

    def samples(self, data, split, retain_file):
        from unlearnkit.data.copyright import copyright_source, load_copyright
        from unlearnkit.data.samples import text_corpus

        source = copyright_source(data)
        return text_corpus(
            load_copyright(source, "forget"),
            split,
            self.name,
            retain_file,
            lambda: (load_copyright(source, "retain"), "copyright:retain"),
        )
