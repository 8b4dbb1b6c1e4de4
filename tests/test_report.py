"""`unlearn report`: synthetic run folders in, report.md / report.html out (no model needed)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from unlearnkit.errors import UserError
from unlearnkit.report import build_report, load_runs

TOFU = {
    "target": {
        "forget_quality": 1.66e-21,
        "model_utility": 0.60,
        "forget_truth_ratio": 0.45,
        "forget_rouge": 0.98,
        "retain_rouge": 0.97,
        "forget_probability": 0.95,
        "mia_mink": 0.99,
    },
    "retain": {
        "forget_quality": 1.0,
        "model_utility": 0.59,
        "forget_truth_ratio": 0.63,
        "forget_rouge": 0.40,
        "retain_rouge": 0.96,
        "forget_probability": 0.15,
        "mia_mink": 0.50,
    },
    "npo": {
        "forget_quality": 0.03,
        "model_utility": 0.46,
        "forget_truth_ratio": 0.60,
        "forget_rouge": 0.41,
        "retain_rouge": 0.62,
        "forget_probability": 0.20,
        "mia_mink": 0.58,
    },
    "sga": {
        "forget_quality": 0.12,
        "model_utility": 0.55,
        "forget_truth_ratio": 0.61,
        "forget_rouge": 0.38,
        "retain_rouge": 0.80,
        "forget_probability": 0.18,
        "mia_mink": 0.55,
    },
    # ga lacks mia_mink: the cell must read "–".
    "ga": {
        "forget_quality": 1.06e-12,
        "model_utility": 0.21,
        "forget_truth_ratio": 0.70,
        "forget_rouge": 0.05,
        "retain_rouge": 0.12,
        "forget_probability": 0.001,
    },
}
COMMON = {
    "retain_probability": 0.9,
    "mia_loss": 0.6,
    "mia_minkpp": 0.55,
    "mia_zlib": 0.6,
    "real_authors_probability": 0.85,
    "world_facts_probability": 0.84,
}
MUSE_EXTRA = {
    "verbmem_f": 0.12,
    "knowmem_f": 0.25,
    "knowmem_r": 0.41,
    "privleak": -12.5,
    "mia_mink": 0.61,
}


def attack(setting: str, value: float, rouge: float, truth: float) -> dict:
    return {
        "setting": setting,
        "value": value,
        "metrics": {"forget_rouge": rouge, "forget_truth_ratio": truth},
    }


def train_log(steps: int, seconds: float, sga: bool = False) -> dict:
    history = []
    for step in range(1, steps + 1):
        entry = {"step": step, "loss": -2.3 - 0.05 * step, "forget_nll": 2.3 + 0.05 * step}
        if sga:
            entry["sga_r"] = -0.4 + 0.005 * step
        history.append(entry)
    return {"seconds": seconds, "steps": steps, "log_history": history}


def write_run(folder: Path, method: str, role: str, metrics: dict, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": "tofu",
        "split": "forget10",
        "method": method,
        "model": f"/models/{method}",
        "role": role,
        "metrics": metrics,
        **extra,
    }
    (folder / "metrics.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def make_demo(root: Path) -> Path:
    """A demo folder: target, retain and three methods under runs/ (sga attacked, ga with extra/muse)."""
    runs = root / "runs"
    write_run(
        runs / "target",
        "finetune",
        "target",
        {**TOFU["target"], **COMMON},
        model="/models/tiny-llama",
    )
    write_run(runs / "retain", "finetune", "retain", {**TOFU["retain"], **COMMON})
    write_run(
        runs / "npo", "npo", "unlearned", {**TOFU["npo"], **COMMON}, train=train_log(40, 41.2)
    )
    attacks = {
        "relearn": [
            attack("steps=0", 0, 0.38, 0.61),
            attack("steps=5", 5, 0.45, 0.57),
            attack("steps=10", 10, 0.52, 0.52),
        ],
        "quantize": [attack("int8-channel", 8, 0.39, 0.60), attack("int4-group128", 4, 0.55, 0.50)],
    }
    write_run(
        runs / "sga",
        "sga",
        "unlearned",
        {**TOFU["sga"], **COMMON},
        attacks=attacks,
        train=train_log(40, 52.7, sga=True),
    )
    ga_attacks = {
        "relearn": [
            attack("steps=0", 0, 0.05, 0.70),
            attack("steps=5", 5, 0.35, 0.55),
            attack("steps=10", 10, 0.70, 0.45),
        ]
    }
    ga = write_run(
        runs / "ga",
        "ga",
        "unlearned",
        {**TOFU["ga"], **COMMON},
        attacks=ga_attacks,
        train=train_log(30, 30.1),
    )
    muse = ga / "extra" / "muse"
    muse.mkdir(parents=True)
    (muse / "metrics.json").write_text(
        json.dumps(
            {"benchmark": "muse", "method": "ga", "role": "unlearned", "metrics": MUSE_EXTRA}
        ),
        encoding="utf-8",
    )
    return root


def md_table(md: str, first_header: str) -> dict[str, dict[str, str]]:
    """The pipe table whose first column header is ``first_header``, as {row label: {column: text}}."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    headers = split_row(lines[start])
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = split_row(line)
        rows[cells[0]] = dict(zip(headers, cells))
    return rows


def split_row(line: str) -> list[str]:
    return [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]


def column(row: dict[str, str], name: str) -> str:
    """A cell by column name without its direction hint, e.g. 'forget_quality' for 'forget_quality (↑ higher)'."""
    return next(v for k, v in row.items() if k == name or k.startswith(f"{name} ("))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str, str]:
    demo = make_demo(tmp_path_factory.mktemp("demo"))
    md_path, html_path = build_report([demo], demo, timestamp=None)
    return demo, md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")


def test_tofu_table_holds_the_stored_numbers(built):
    _, md, _ = built
    rows = md_table(md, "model")
    assert list(rows) == ["target", "retain", "ga", "npo", "sga"]
    assert column(rows["target"], "forget_quality") == "1.7e-21"
    assert column(rows["retain"], "forget_quality") == "1.0e+00"
    assert column(rows["npo"], "forget_quality") == "3.0e-02"
    assert column(rows["npo"], "model_utility") == "0.460"
    assert column(rows["sga"], "forget_rouge") == "0.380"
    assert column(rows["sga"], "mia_mink AUC") == "0.550"
    assert column(rows["npo"], "train time (s)") == "41.2"
    assert column(rows["target"], "train time (s)") == "–"
    assert column(rows["ga"], "mia_mink AUC") == "–"


def test_best_cell_is_marked(built):
    _, md, html = built
    sga_line = next(line for line in md.splitlines() if line.startswith("| sga |"))
    assert "**1.2e-01**" in sga_line  # sga has the best forget quality
    assert '<td class="best">1.2e-01</td>' in html
    assert '<td class="worst">1.1e-12</td>' in html


def test_attack_and_relearn_tables(built):
    _, md, _ = built
    lines = [
        line for line in md.splitlines() if line.startswith("| sga | quantize | int4-group128 |")
    ]
    assert len(lines) == 1
    cells = split_row(lines[0])
    assert cells[3:6] == ["0.380", "0.550", "+0.170 ▲"]
    recovery = md_table(md.split("## Relearning", 1)[1], "model")
    assert list(recovery) == ["ga", "sga"]
    assert column(recovery["ga"], "forget_rouge before") == "0.050"
    assert column(recovery["ga"], "recovery after 5 steps") == "+0.300 ▲"
    assert column(recovery["ga"], "recovery after 10 steps") == "+0.650 ▲"
    assert column(recovery["sga"], "recovery after 10 steps") == "+0.140 ▲"


def test_muse_table_from_extra_folder_on_0_100_scale(built):
    _, md, _ = built
    section = md.split("## MUSE", 1)[1]
    rows = md_table(section, "model")
    assert list(rows) == ["ga"]
    assert column(rows["ga"], "verbmem_f") == "12.0"
    assert column(rows["ga"], "knowmem_r") == "41.0"
    assert column(rows["ga"], "privleak") == "-12.5"
    assert "## Copyright" not in md


def test_html_is_self_contained_with_every_plot(built):
    demo, md, html = built
    pngs = sorted(p.name for p in (demo / "report_files").glob("*.png"))
    assert pngs == ["loss.png", "relearn.png", "sga_r.png", "tofu_scatter.png"]
    for name in pngs:
        assert f"(report_files/{name})" in md
    assert html.count("data:image/png;base64,") == len(pngs)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()


def test_footer_lists_folders_and_timestamp_is_optional(built, tmp_path):
    demo, md, html = built
    assert str(demo.resolve()) in md and str(demo.resolve()) in html
    assert "UTC" not in md
    md_path, _ = build_report([demo], tmp_path)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", md_path.read_text(encoding="utf-8"))


def test_rebuild_is_deterministic(built, tmp_path):
    demo, md, html = built
    md_path, html_path = build_report([demo], tmp_path, timestamp=None)
    assert md_path.read_text(encoding="utf-8") == md
    assert html_path.read_text(encoding="utf-8") == html


def test_two_demo_folders_combine_with_disambiguated_rows(tmp_path):
    a, b = make_demo(tmp_path / "demoA"), make_demo(tmp_path / "demoB")
    md_path, html_path = build_report([a, b], tmp_path / "out", title="Two demos", timestamp=None)
    md = md_path.read_text(encoding="utf-8")
    rows = md_table(md, "model")
    assert list(rows)[:4] == [
        "target (demoA)",
        "target (demoB)",
        "retain (demoA)",
        "retain (demoB)",
    ]
    assert "npo (demoA)" in rows and "npo (demoB)" in rows
    assert md.startswith("# Two demos")
    assert "<title>Two demos</title>" in html_path.read_text(encoding="utf-8")


def test_same_method_twice_in_one_folder_uses_folder_names(tmp_path):
    write_run(tmp_path / "runs" / "npo", "npo", "unlearned", TOFU["npo"])
    write_run(tmp_path / "runs" / "npo_lr2", "npo", "unlearned", TOFU["sga"])
    assert [r.label for r in load_runs([tmp_path])] == ["npo", "npo (npo_lr2)"]


def test_missing_sections_and_keys_do_not_crash(tmp_path):
    run = write_run(tmp_path / "only", "rmu", "unlearned", {"forget_rouge": 0.3})
    md_path, html_path = build_report([run], tmp_path / "out", timestamp=None)
    md = md_path.read_text(encoding="utf-8")
    row = md_table(md, "model")["rmu"]
    assert column(row, "forget_rouge") == "0.300"
    assert column(row, "forget_quality") == "–"
    assert "## Relearning" not in md and "## MUSE" not in md and "![" not in md
    assert "data:image/png" not in html_path.read_text(encoding="utf-8")


def test_run_folders_are_found_up_to_three_levels_deep(tmp_path):
    write_run(tmp_path / "a" / "b" / "c", "npo", "unlearned", TOFU["npo"])
    write_run(
        tmp_path / "a" / "b" / "c" / "d" / "e", "ga", "unlearned", TOFU["ga"]
    )  # inside a run folder: not a run
    write_run(
        tmp_path / "w" / "x" / "y" / "z", "sga", "unlearned", TOFU["sga"]
    )  # four levels: too deep
    assert [r.method for r in load_runs([tmp_path])] == ["npo"]


def test_empty_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no results"):
        build_report([tmp_path], tmp_path / "out")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "metrics.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not valid JSON"):
        build_report([tmp_path], tmp_path / "out")
    with pytest.raises(UserError, match="not a folder"):
        build_report([tmp_path / "missing"], tmp_path / "out")


def test_report_command(tmp_path, capsys):
    from unlearnkit.commands import report

    parser = argparse.ArgumentParser()
    report.add_parser(parser.add_subparsers())
    demo = make_demo(tmp_path / "demo")
    args = parser.parse_args(["report", str(demo)])
    assert args.func(args) == 0
    assert (demo / "report.html").is_file() and (demo / "report.md").is_file()
    assert "report.html" in capsys.readouterr().out
    with pytest.raises(UserError):
        args.func(
            parser.parse_args(["report", str(demo), str(tmp_path / "demo")])
        )  # two folders need --out
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError):
        args.func(parser.parse_args(["report", str(empty)]))


def test_cli_prints_one_line_for_an_empty_folder(tmp_path, capsys):
    from unlearnkit import cli

    if "report" not in cli.COMMANDS:
        pytest.skip("'report' is not yet registered in unlearnkit.cli.COMMANDS")
    assert cli.main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unlearn report: error:") and "\n" not in err


def test_markdown_escapes_html_from_run_names(tmp_path):
    """A method or model name is text in report.md: no raw HTML gets through (as in report.html)."""
    evil = "<script>alert(1)</script>"
    run = write_run(tmp_path / "runs" / "x", evil, "unlearned", TOFU["npo"], model=f"/m/{evil}")
    md_path, html_path = build_report([run], tmp_path / "out", title=evil, timestamp=None)
    for text in (md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")):
        assert "<script" not in text.lower()
    assert "&lt;script&gt;" in md_path.read_text(encoding="utf-8")


def test_relearning_verdict_is_judged_against_what_was_forgotten(tmp_path):
    """A method that forgot almost nothing and 'recovers' nothing is not the most resistant."""
    from unlearnkit.report.collect import load_runs
    from unlearnkit.report.tables import findings

    runs = tmp_path / "runs"
    write_run(runs / "target", "finetune", "target", {**TOFU["target"], **COMMON})
    write_run(runs / "retain", "finetune", "retain", {**TOFU["retain"], **COMMON})
    lazy = [attack("steps=0", 0, 0.96, 0.5), attack("steps=10", 10, 0.958, 0.5)]
    write_run(runs / "ga", "ga", "unlearned", {**TOFU["ga"], "forget_rouge": 0.96},
              attacks={"relearn": lazy})  # fmt: skip
    real = [attack("steps=0", 0, 0.40, 0.6), attack("steps=10", 10, 0.52, 0.6)]
    write_run(runs / "npo", "npo", "unlearned", TOFU["npo"], attacks={"relearn": real})
    found = {f.title: f for f in findings(load_runs([runs]))}
    verdict = found["Relearning"]  # only npo forgot enough to be judged
    assert verdict.value == "npo"
    assert "21% of the 0.580 it forgot" in verdict.detail and "did not forget: ga" in verdict.detail


def lazy_rmu(runs: Path, forget_rouge: float = 0.97) -> None:
    """An RMU run that forgot nothing: the target's utility and a big 'leak' under quantization."""
    quantize = {"quantize": [attack("int4-group128", 4, 0.99, 0.40)]}
    metrics = {**TOFU["npo"], "forget_rouge": forget_rouge, "model_utility": 0.60,
               "forget_quality": 0.5}  # fmt: skip
    write_run(runs / "rmu", "rmu", "unlearned", metrics, attacks=quantize)


def test_headline_verdicts_are_among_the_models_that_forgot(tmp_path):
    """A model that did not move forget_rouge a quarter of the gap is never 'best' (utility, forget
    quality, attack leak): the best among those that forgot is named and it is listed aside."""
    from unlearnkit.report.tables import findings

    runs = tmp_path / "runs"
    write_run(runs / "target", "finetune", "target", {**TOFU["target"], **COMMON})
    write_run(runs / "retain", "finetune", "retain", {**TOFU["retain"], **COMMON})
    lazy_rmu(runs)  # moved 0.01 of a 0.58 gap
    small_leak = {"quantize": [attack("int4-group128", 4, 0.45, 0.58)]}
    write_run(runs / "npo", "npo", "unlearned", TOFU["npo"], attacks=small_leak)
    write_run(runs / "sga", "sga", "unlearned", TOFU["sga"])
    found = {f.title: f for f in findings(load_runs([runs]))}
    utility, quality = found["Best model utility"], found["Best forget quality"]
    assert (utility.value, quality.value) == ("sga", "sga")
    assert utility.detail == "model_utility 0.55 (target: 0.60); did not forget: rmu"
    assert quality.detail.endswith("; did not forget: rmu")
    leak = found["Largest attack leak"]
    assert leak.value == "npo" and leak.detail.endswith("; did not forget: rmu")


def test_no_best_is_named_when_no_model_forgot(tmp_path):
    """Every unlearned model kept the target's knowledge: the cards say so and name no model."""
    runs = tmp_path / "runs"
    write_run(runs / "target", "finetune", "target", {**TOFU["target"], **COMMON})
    write_run(runs / "retain", "finetune", "retain", {**TOFU["retain"], **COMMON})
    lazy_rmu(runs)
    write_run(runs / "ga", "ga", "unlearned", {**TOFU["ga"], "forget_rouge": 0.90})
    from unlearnkit.report.tables import findings

    md_path, _ = build_report([runs], tmp_path / "out", timestamp=None)
    found = {f.title: f for f in findings(load_runs([runs]))}
    for title in ("Best model utility", "Best forget quality"):
        assert found[title].value == "none forgot"
        assert "did not forget: ga, rmu" in found[title].detail
    assert found["Attacks"].value == "none forgot"
    assert "**Best model utility:** none forgot" in md_path.read_text(encoding="utf-8")
