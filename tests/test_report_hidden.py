"""The report's 'Gone or hidden?' section, on hand-made metrics.json files (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

from unlearnkit.report import build_report, load_runs
from unlearnkit.report.build import assemble
from unlearnkit.report.hidden_plots import lens_lines
from unlearnkit.report.hidden_tables import hidden_tables

PLAIN = {"forget_rouge": 0.10, "forget_probability": 0.05, "model_utility": 0.5}


def kl(k: int, value: float) -> dict:
    return {"setting": f"k={k}", "value": k, "metrics": {"forget_kl": value}}


def hidden_attacks(depth: float, kl0: float) -> dict:
    """One entry of every hidden-state / judge-free attack, as the attacks write them."""
    return {
        "prefill_kl": [kl(0, kl0), kl(2, kl0 / 2), kl(8, kl0 / 4)],
        "jailbreak": [
            {"setting": "role_play", "value": 0, "metrics": {"forget_rouge": 0.2}},
            {
                "setting": "worst",
                "value": 6,
                "metrics": {"forget_rouge": 0.45, "forget_probability": 0.30},
                "best_template": "summary",
            },
        ],
        "embedding": [
            {"setting": "item", "value": 4, "metrics": {"forget_rouge": 0.6, "success_rate": 0.75}},
            {
                "setting": "universal",
                "value": 4,
                "metrics": {"success_rate": 0.5},
                "held_out": {"success_rate": 0.25},
            },
        ],
        "lens": [
            {
                "setting": "lens",
                "value": 0,
                "metrics": {
                    "lens_last_probability": 0.1,
                    "lens_max_probability": 0.7,
                    "lens_excess": 0.55,
                },
                "curve": [0.2, 0.7, 0.1],
                "retain_curve": [0.1, 0.15, 0.05],
            }
        ],
        "patch": [
            {
                "setting": "patch",
                "value": 0,
                "metrics": {"patch_drop": 0.3, "patch_depth": depth, "patch_remaining": 1 - depth},
            }
        ],
        "orthogonalize": [
            {
                "setting": "layers=all",
                "value": 2,
                "metrics": {"forget_rouge": 0.9, "forget_probability": 0.8},
            }
        ],
        "refusal": [
            {
                "setting": "refusal",
                "value": 0,
                "metrics": {
                    "retain_refusal_rate": 0.4,
                    "benign_refusal_rate": 0.2,
                    "retain_rouge": 0.3,
                },
            }
        ],
    }


def write_run(folder: Path, method: str, role: str, attacks: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": "tofu", "method": method, "role": role, "metrics": PLAIN}
    if attacks is not None:
        data["attacks"] = attacks
    (folder / "metrics.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def by_key(runs) -> dict:
    return {t.key: t for t in hidden_tables(runs)}


def rows(table) -> dict[str, list[str]]:
    return {r.labels[0]: [c.text for c in r.cells] for r in table.rows}


def test_tables_hold_each_attacks_key_numbers(tmp_path: Path) -> None:
    write_run(tmp_path / "target", "finetune", "target")
    write_run(tmp_path / "idk", "idk", "unlearned", hidden_attacks(0.25, 0.6))
    write_run(tmp_path / "npo", "npo", "unlearned", {"patch": hidden_attacks(0.9, 6.0)["patch"]})
    tables = by_key(load_runs([tmp_path]))
    assert list(tables) == [
        "hidden_depth",
        "hidden_prefill_kl",
        "hidden_jailbreak",
        "hidden_embedding",
        "hidden_lens",
        "hidden_patch",
        "hidden_orthogonalize",
        "hidden_refusal",
    ]
    kl_table = tables["hidden_prefill_kl"]
    assert kl_table.headers == ["k=0", "k=2", "k=8"]
    assert rows(kl_table) == {"idk": ["0.60", "0.30", "0.15"]}
    jb = tables["hidden_jailbreak"]
    assert jb.rows[0].labels == ["idk", "summary"]
    assert rows(jb)["idk"] == ["0.100", "0.050", "0.450", "0.300"]
    assert rows(tables["hidden_embedding"])["idk"] == ["0.600", "0.750", "0.250"]
    assert rows(tables["hidden_lens"])["idk"] == ["0.100", "0.700", "0.550"]
    assert rows(tables["hidden_patch"]) == {
        "idk": ["0.250", "0.750", "0.300"],
        "npo": ["0.900", "0.100", "0.300"],
    }
    assert rows(tables["hidden_orthogonalize"])["idk"] == ["0.100", "0.900", "0.050", "0.800"]
    marks = [c.mark for c in tables["hidden_orthogonalize"].rows[0].cells]
    assert marks == ["", "leak", "", "leak"]
    assert rows(tables["hidden_refusal"])["idk"] == ["0.400", "0.200", "0.300"]
    # npo lacks every attack but patch: its depth row shows "–" where the others would be.
    depth = rows(tables["hidden_depth"])
    assert depth == {"idk": ["0.250", "0.550", "0.60", "0.750"], "npo": ["0.900", "–", "–", "–"]}
    # The target was not attacked: the tables say so instead of showing a reference row.
    assert all("No reference rows" in t.caption for t in tables.values())


def test_reference_rows_come_first_when_attacked(tmp_path: Path) -> None:
    write_run(tmp_path / "npo", "npo", "unlearned", hidden_attacks(0.9, 6.0))
    write_run(tmp_path / "retain", "finetune", "retain", hidden_attacks(1.0, 5.0))
    table = by_key(load_runs([tmp_path]))["hidden_prefill_kl"]
    assert [(r.labels[0], r.role) for r in table.rows] == [
        ("retain", "retain"),
        ("npo", "unlearned"),
    ]
    assert "No reference rows" not in table.caption


def test_orthogonalize_marks_no_leak_without_a_rise(tmp_path: Path) -> None:
    attacks = hidden_attacks(0.9, 6.0)
    attacks["orthogonalize"][0]["metrics"] = {"forget_rouge": 0.11, "forget_probability": 0.01}
    write_run(tmp_path / "npo", "npo", "unlearned", {"orthogonalize": attacks["orthogonalize"]})
    table = by_key(load_runs([tmp_path]))["hidden_orthogonalize"]
    assert [c.mark for c in table.rows[0].cells] == ["", "", "", ""]


def test_section_skipped_without_hidden_attacks(tmp_path: Path) -> None:
    write_run(tmp_path / "npo", "npo", "unlearned", {})
    runs = load_runs([tmp_path])
    assert hidden_tables(runs) == []
    report = assemble(runs, "t", [], None)
    assert "hidden" not in [s.id for s in report.sections]


def test_hidden_kinds_left_out_of_the_before_after_table(tmp_path: Path) -> None:
    write_run(tmp_path / "npo", "npo", "unlearned", hidden_attacks(0.9, 6.0))
    report = assemble(load_runs([tmp_path]), "t", [], None)
    assert "attacks" not in [s.id for s in report.sections]
    assert "hidden" in [s.id for s in report.sections]


def test_report_files_have_the_section_and_plots(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs / "retain", "finetune", "retain", hidden_attacks(1.0, 5.0))
    write_run(runs / "idk", "idk", "unlearned", hidden_attacks(0.25, 0.6))
    md_path, html_path = build_report([runs], tmp_path / "out", timestamp=None)
    md = md_path.read_text(encoding="utf-8")
    assert "## Gone or hidden?" in md
    assert "### Activation patching" in md
    assert "| idk | summary |" in md
    for name in ("hidden_lens", "hidden_prefill_kl"):
        png = tmp_path / "out" / "report_files" / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert f"report_files/{name}.png" in md
    html = html_path.read_text(encoding="utf-8")
    assert '<section id="hidden">' in html and "Logit lens" in html


def test_lens_plot_skips_a_malformed_curve(tmp_path: Path) -> None:
    attacks = hidden_attacks(0.5, 1.0)
    attacks["lens"][0]["curve"] = ["x", 1]
    attacks["lens"][0]["retain_curve"] = "not a list"
    write_run(tmp_path / "npo", "npo", "unlearned", {"lens": attacks["lens"]})
    report = assemble(load_runs([tmp_path]), "t", [], None)
    assert [b.name for s in report.sections for b in s.blocks if hasattr(b, "png")] == []


def test_lens_plot_draws_the_retain_curve_the_attack_read(tmp_path: Path) -> None:
    write_run(tmp_path / "idk", "idk", "unlearned", hidden_attacks(0.25, 0.6))
    lines = lens_lines(load_runs([tmp_path]))
    assert [(label, curve, dashed) for label, _, curve, dashed in lines] == [
        ("idk", [0.2, 0.7, 0.1], False),
        ("retain (read by the lens attack)", [0.1, 0.15, 0.05], True),
    ]
    # With a retain run that has its own lens curve, the curve read by the attack is not drawn twice.
    write_run(tmp_path / "retain", "finetune", "retain", hidden_attacks(1.0, 5.0))
    assert [line[0] for line in lens_lines(load_runs([tmp_path]))] == ["retain", "idk"]
