"""A sweep's grid file: cells are the cartesian product with stable readable names, and a bad
grid is a one-line error before anything runs."""

from __future__ import annotations

import pytest
import yaml

from unlearnkit.errors import UserError
from unlearnkit.sweep.grid import load_grid, override


def write(tmp_path, tree: dict):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


def test_cells_are_the_product_with_stable_names(tmp_path):
    grid = load_grid(
        write(
            tmp_path,
            {
                "set": {"train.max_steps": 2},
                "methods": ["ga", {"method": "sga", "axes": {"params.K": [2, 4]}}],
                "axes": {"train.learning_rate": ["1e-5", 3.0e-5]},
                "seeds": [0, 1],
            },
        )
    )
    names = [c.name for c in grid.cells]
    assert len(names) == 2 * 2 + 2 * 2 * 2  # ga: lr x seeds; sga: lr x K x seeds
    assert names[:4] == [
        "ga__learning_rate=1e-05__seed=0",
        "ga__learning_rate=1e-05__seed=1",
        "ga__learning_rate=3e-05__seed=0",
        "ga__learning_rate=3e-05__seed=1",
    ]
    assert names[4] == "sga__learning_rate=1e-05__K=2__seed=0"
    sga = grid.cells[4]
    assert sga.group == "sga__learning_rate=1e-05__K=2" and sga.seed == 0
    assert sga.settings == {"train.learning_rate": 1e-5, "params.K": 2}  # "1e-5" read as a number
    assert sga.overrides == [
        "train.max_steps=2",
        "train.learning_rate=1.0e-05",
        "params.K=2",
        "train.seed=0",
    ]
    assert [c.name for c in load_grid(write(tmp_path, {"seeds": [0]})).cells] == ["run__seed=0"]


def test_two_axes_with_one_last_part_keep_their_full_keys_and_labels_name_variants(tmp_path):
    grid = load_grid(
        write(
            tmp_path,
            {
                "methods": [
                    "npo",
                    {"method": "npo", "label": "npo-b", "set": {"params.beta": 0.5}},
                ],
                "axes": {"params.patience": [1], "guard.patience": [2]},
            },
        )
    )
    assert [c.name for c in grid.cells] == [
        "npo__params.patience=1__guard.patience=2",
        "npo-b__params.patience=1__guard.patience=2",
    ]
    assert grid.cells[1].method == "npo" and "params.beta=0.5" in grid.cells[1].overrides


def test_override_values_read_back_as_they_were():
    from unlearnkit.config import parse_value

    for value in (3e-5, 0, True, None, "kl", [1, 2], 0.5):
        key, _, text = override("a.b", value).partition("=")
        assert key == "a.b" and parse_value(text) == value


@pytest.mark.parametrize(
    "tree, message",
    [
        ({"method": ["ga"]}, "unknown key 'method'"),
        ({"methods": []}, "'methods' is empty"),
        ({"axes": {"train.learning_rate": []}}, "train.learning_rate is empty"),
        ({"axes": {"train.learning_rate": 1e-5}}, "must be a list"),
        ({"axes": {"train.lr": [1e-5]}}, "unknown setting 'config.train.lr'"),
        ({"seeds": []}, "'seeds' is empty"),
        ({"seeds": ["a"]}, "seeds must be whole numbers"),
        ({"axes": {"train.seed": [0, 1]}}, "use 'seeds'"),
        ({"methods": [{"label": "x"}]}, "mapping with a 'method' name"),
        ({"methods": [{"method": "ga", "axis": {}}]}, "unknown key 'axis'"),
        ({"methods": ["ga", "ga"]}, "both named ga"),
        ({"base": "no/such.yaml"}, "config file not found"),
        ({"equal_forgetting": {"level": 0.3}}, "unknown setting 'equal_forgetting.level'"),
    ],
)
def test_bad_grids_are_one_line_errors(tmp_path, tree, message):
    with pytest.raises(UserError) as e:
        load_grid(write(tmp_path, tree))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_missing_grid_file_is_named(tmp_path):
    with pytest.raises(UserError, match="grid file not found: .*none.yaml"):
        load_grid(tmp_path / "none.yaml")


def test_inline_base_sets_the_label_and_is_checked(tmp_path):
    grid = load_grid(write(tmp_path, {"base": {"method": "npo"}, "seeds": [3]}))
    assert [c.name for c in grid.cells] == ["npo__seed=3"] and grid.cells[0].method is None
    with pytest.raises(UserError, match="unknown setting 'config.nope'"):
        load_grid(write(tmp_path, {"base": {"nope": 1}}))


def test_the_packaged_claims_grid_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "claims_small.yaml"
    grid = load_grid(path)
    assert len(grid.cells) == 126 and len({c.name for c in grid.cells}) == 126
    assert grid.equal_forgetting.levels == [0.5, 0.4, 0.3]
    assert {c.label for c in grid.cells} >= {"ga", "gd", "sga-K", "idk", "flat", "prism-nogcd"}


def test_a_packaged_base_names_its_method(tmp_path):
    grid = load_grid(write(tmp_path, {"base": "world/npo", "axes": {"params.beta": [0.1, 0.2]}}))
    assert [c.name for c in grid.cells] == ["npo__beta=0.1", "npo__beta=0.2"]
    assert grid.base.name == "npo.yaml" and grid.cells[0].overrides == ["params.beta=0.1"]
