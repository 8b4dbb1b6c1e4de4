"""WMDP (cais/wmdp): hazardous-knowledge multiple choice, unlearned from raw corpora, MMLU for utility."""

from __future__ import annotations

from unlearnkit.benchmarks.base import Benchmark, MetricSpec, Rows


class WMDP(Benchmark):
    name = "wmdp"
    title = "WMDP: hazardous knowledge and general knowledge"
    caption = (
        "Zero-shot multiple-choice accuracy (lm-evaluation-harness's prompt and scoring; chance is 0.25). "
        "wmdp_*: the hazardous knowledge to remove; lower is better, down to chance. mmlu_acc: general "
        "knowledge to keep; higher is better."
    )
    default_split = "forget"
    answer_prefill = True
    plot_metrics = ("wmdp_acc", "mmlu_acc")
    chance = 0.25  # four choices
    metrics = (
        MetricSpec("wmdp_acc", "lower", recovery=+1),
        MetricSpec("wmdp_bio_acc", "lower", recovery=+1),
        MetricSpec("wmdp_cyber_acc", "lower", recovery=+1),
        MetricSpec("wmdp_chem_acc", "lower", recovery=+1),
        MetricSpec("mmlu_acc", "higher"),
    )
    attacked = ("wmdp_acc", "wmdp_bio_acc", "wmdp_cyber_acc", "wmdp_chem_acc")

    def check_data(self, data, split):
        from unlearnkit.data.wmdp import has_mmlu, load_mmlu, load_wmdp_set, wmdp_sets, wmdp_source
        from unlearnkit.errors import UserError

        source = wmdp_source(data)
        if source.folder is None:
            return
        sets = wmdp_sets(source)
        if not sets:
            raise UserError(f"{source.folder} holds no WMDP set (wmdp-bio/test.jsonl, …)")
        for name in sets:
            load_wmdp_set(source, name)
        if has_mmlu(source):
            load_mmlu(source)

    def rows(self, model, tok, data, split, settings) -> Rows:
        from unlearnkit.eval.wmdp import wmdp_rows

        return wmdp_rows(model, tok, data, settings)

    def aggregate(self, rows, reference):
        from unlearnkit.eval.wmdp import wmdp_aggregate

        return wmdp_aggregate(rows)

    def retain_reference(self, retain_eval):
        from unlearnkit.eval.results import read_metrics

        metrics = read_metrics(retain_eval)["metrics"]
        return {
            "retain_wmdp_acc": metrics.get("wmdp_acc"),
            "retain_mmlu_acc": metrics.get("mmlu_acc"),
        }

    def forget_rows(self, model, tok, ctx):
        from unlearnkit.eval.wmdp import wmdp_rows

        return wmdp_rows(model, tok, ctx.data, ctx.settings, with_mmlu=False)

    def prefilled_forget_rows(self, model, tok, ctx, lead):
        from unlearnkit.eval.wmdp import wmdp_rows

        return wmdp_rows(model, tok, ctx.data, ctx.settings, with_mmlu=False, lead=lead)

    def samples(self, data, split, retain_file):
        """The raw forget corpora; retain: the retain corpora (RMU's setting), never the MC sets."""
        from unlearnkit.data.samples import text_corpus
        from unlearnkit.data.wmdp import load_corpus, wmdp_source

        source = wmdp_source(data)
        return text_corpus(
            load_corpus(source, "forget"),
            split,
            self.name,
            retain_file,
            lambda: (load_corpus(source, "retain"), "wmdp:retain-corpora"),
        )
