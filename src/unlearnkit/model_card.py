"""The model card (the Hub's ``README.md`` with YAML metadata) of every model folder unlearnkit saves.

The metadata carries ``base_model``, ``tags`` and an ``unlearnkit`` section: what the model is
(``role``), the method and its parameters, the data it forgot (or was fine-tuned on), the headline
metrics when the run evaluated it, and the retain reference those were measured against. Every
string is written by a YAML dumper that quotes what needs quoting and keeps each value on one line,
so a config value with ``:``, ``#``, quotes or line breaks can neither break the block nor end it.
``huggingface_hub.ModelCard.load`` reads the result.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from unlearnkit.io import write_text_atomic

CARD = "README.md"
TAGS = ("unlearnkit", "machine-unlearning")
_BREAKS = re.compile(r"[\r\n\x85\u2028\u2029]")


class _CardDumper(yaml.SafeDumper):
    """A safe dumper that writes strings with line breaks double-quoted on one line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _BREAKS.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CardDumper.add_representer(str, _str)


def _plain(value: Any) -> Any:
    """JSON-like data only (dicts, lists, str, numbers, bools, None): what YAML dumps safely."""
    return json.loads(json.dumps(value, default=str))


def metadata_yaml(meta: dict) -> str:
    """The YAML block of a card (no ``---`` lines); one line per scalar, keys in the given order."""
    return yaml.dump(
        _plain(meta),
        Dumper=_CardDumper,
        sort_keys=False,
        allow_unicode=True,
        width=float("inf"),
        default_flow_style=False,
    )


def _md(value: Any) -> str:
    """A value as inline Markdown text: one line, Markdown's special characters escaped."""
    text = _BREAKS.sub(" ", str(value))
    return re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", text)


def headline_metrics(benchmark: str | None, metrics: dict | None) -> dict[str, float | None]:
    """The benchmark's report columns (forget quality, model utility, ...) from a metrics dict."""
    if not benchmark or not metrics:
        return {}
    from unlearnkit.benchmarks import get_benchmark

    try:
        specs = get_benchmark(benchmark).metrics
    except Exception:  # noqa: BLE001 - an unknown benchmark name leaves the card without metrics
        return {}
    out: dict[str, float | None] = {}
    for spec in specs:
        value = metrics.get(spec.key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[spec.key] = float(value) if math.isfinite(value) else None
    return out


def card_text(
    *,
    role: str,
    method: str,
    params: dict | None = None,
    base_model: str | None = None,
    data: dict | None = None,
    metrics: dict | None = None,
    retain_reference: str | None = None,
    evaluated: bool | None = None,
) -> str:
    """The README.md of a saved model: YAML metadata, then a short human-readable summary."""
    section: dict[str, Any] = {"role": role, "method": method, "params": params or {}}
    if role == "unlearned":
        section["forget_set"] = data or {}
        section["evaluated"] = bool(evaluated)
        section["metrics"] = metrics or {}
        section["retain_reference"] = retain_reference
    else:
        section["training_data"] = data or {}
    meta: dict[str, Any] = {}
    if base_model:
        meta["base_model"] = str(base_model)
    meta.update(
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[*TAGS, str(method)],
        unlearnkit=section,
    )
    return f"---\n{metadata_yaml(meta)}---\n\n{_body(section, base_model)}"


def _body(section: dict, base_model: str | None) -> str:
    """The card's Markdown: what the model is, where it came from, and its headline numbers."""
    method = _md(section["method"])
    start = f" from {_md(base_model)}" if base_model else ""
    if section["role"] == "unlearned":
        forget = section["forget_set"]
        what = " ".join(_md(forget[k]) for k in ("benchmark", "split") if forget.get(k))
        lines = [
            f"# Unlearned model ({method})",
            "",
            f"Made with unlearnkit{start}: the method {method} unlearned the "
            f"forget set {what or 'given'}.",
        ]
    else:
        data = section["training_data"]
        what = " ".join(_md(data[k]) for k in ("benchmark", "split", "data") if data.get(k))
        lines = [
            "# Fine-tuned model",
            "",
            f"Fine-tuned with unlearnkit{start} on {what or 'the given data'}.",
        ]
    lines += ["", "The method's parameters and the data are in this card's metadata."]
    if section.get("metrics"):
        ref = section.get("retain_reference")
        lines += ["", "| metric | value |", "| --- | --- |"]
        lines += [f"| {_md(k)} | {_number(v)} |" for k, v in section["metrics"].items()]
        lines += ["", f"Measured against the retain reference {_md(ref)}." if ref else ""]
    elif section["role"] == "unlearned":
        lines += ["", "This model was not evaluated by the run that made it."]
    return "\n".join(lines).rstrip() + "\n"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def unlearned_card(
    summary: dict,
    base_model: str | None = None,
    result: dict | None = None,
    retain_reference: str | None = None,
) -> str:
    """The card of an unlearned model, from ``unlearn()``'s summary and the run's metrics.json."""
    benchmark = summary.get("benchmark")
    data = {"benchmark": benchmark, "split": summary.get("split")}
    source = (summary.get("config") or {}).get("data", {}).get("path")
    if source:
        data["data"] = source
    evaluated = bool(result) and result.get("evaluated", True) and bool(result.get("metrics"))
    metrics = headline_metrics(benchmark, result.get("metrics")) if evaluated else {}
    ref = retain_reference or (result or {}).get("retain_eval")
    return card_text(
        role="unlearned",
        method=str(summary.get("method", "unknown")),
        params=summary.get("params"),
        base_model=base_model,
        data=data,
        metrics=metrics,
        retain_reference=str(ref) if ref else None,
        evaluated=evaluated,
    )


def finetuned_card(config: dict, base_model: str | None = None, data: dict | None = None) -> str:
    """The card of a fine-tuned model (`unlearn finetune`): its settings and training data."""
    return card_text(
        role="finetuned",
        method="finetune",
        params=config,
        base_model=base_model,
        data={k: v for k, v in (data or {}).items() if v is not None},
    )


def base_model_of(model) -> str | None:
    """The path or hub id a loaded model came from, if transformers recorded one."""
    name = getattr(model, "name_or_path", None) or getattr(
        getattr(model, "config", None), "_name_or_path", None
    )
    return str(name) if name else None


def write_card(folder: str | Path, text: str) -> Path:
    """Write (or replace) ``folder``/README.md atomically."""
    path = Path(folder) / CARD
    write_text_atomic(path, text)
    return path
