"""A sweep's grid file, checked, and its cells: methods × setting values × seeds.

```yaml
base: configs/tofu/npo.yaml      # optional: a run config (path, packaged name or inline mapping)
set: {train.max_steps: 12}       # optional: dotted settings every cell gets
methods: [ga, {method: sga, axes: {params.K: [1, 2]}}]   # optional: else the base's method
axes: {train.learning_rate: [1e-5, 3e-5]}                # optional: every method's axes
seeds: [0, 1, 2]                 # optional: train.seed of each cell (default: the base's)
equal_forgetting: {forget: forget_rouge, utility: retain_rouge, levels: [0.3]}   # optional
```

Each cell is one ``unlearn run``; its folder name is made from its settings (docs/sweeps.md).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unlearnkit.config import apply_overrides, from_dict, read_yaml
from unlearnkit.errors import UserError

GRID_KEYS = ("base", "set", "methods", "axes", "seeds", "equal_forgetting", "out")
METHOD_KEYS = ("method", "label", "set", "axes")
SEED = "train.seed"
UNSAFE = re.compile(r"[^A-Za-z0-9.+_=-]+")
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


@dataclass
class EqualForgetting:
    forget: str = "forget_rouge"  # the curve's forget metric
    utility: str = "retain_rouge"  # the curve's utility metric, read at each level
    levels: list[float] = field(default_factory=list)


@dataclass
class Cell:
    """One run of the grid: its folder name, its group (label + settings) and its seed."""

    name: str
    label: str
    method: str
    settings: dict[str, Any]  # the axis values of this cell, seed excluded
    seed: int | None
    overrides: list[str]  # dotted key=value, in the order they apply

    @property
    def group(self) -> str:
        """The cell's name without its seed: the cells a summary row averages over."""
        return _name(self.label, self.settings, None)


@dataclass
class Grid:
    base: Path | dict | None
    cells: list[Cell]
    equal_forgetting: EqualForgetting
    out: str | None


def load_grid(path: str | Path) -> Grid:
    """The grid file at ``path``, every key checked (one-line errors), its cells expanded."""
    if not Path(path).is_file():
        raise UserError(f"grid file not found: {path}")
    tree = read_yaml(path)
    where = str(path)
    _known(tree, GRID_KEYS, where)
    base = tree.get("base")
    if isinstance(base, str):
        base = _base_path(base, Path(path).parent)
    elif base is not None and not isinstance(base, dict):
        raise UserError(f"{where}: 'base' must be a config path or a mapping, got {base!r}")
    methods = [_method(m, f"{where}: methods[{i}]") for i, m in enumerate(_listed(tree, "methods"))]
    if "methods" in tree and not methods:
        raise UserError(f"{where}: 'methods' is empty; name at least one method or drop the key")
    axes = _axes(tree.get("axes", {}), f"{where}: axes")
    seeds = _listed(tree, "seeds")
    if "seeds" in tree and not seeds:
        raise UserError(f"{where}: 'seeds' is empty; give at least one seed or drop the key")
    if any(not isinstance(s, int) or isinstance(s, bool) for s in seeds):
        raise UserError(f"{where}: seeds must be whole numbers, got {seeds!r}")
    fixed = _settings(tree.get("set", {}), f"{where}: set")
    ef = tree.get("equal_forgetting") or {}
    if not isinstance(ef, dict):
        raise UserError(f"{where}: 'equal_forgetting' must be a mapping, got {ef!r}")
    equal = from_dict(EqualForgetting, ef, "equal_forgetting")
    cells = expand(base, fixed, methods or [_method(None, where)], axes, seeds or [None])
    _check_configs(base, cells, where)
    return Grid(base, cells, equal, tree.get("out"))


def expand(
    base: Path | dict | None,
    fixed: dict[str, Any],
    methods: list[dict],
    axes: dict[str, list],
    seeds: list[int | None],
) -> list[Cell]:
    """The cartesian product, methods outermost and seeds innermost; names must be unique."""
    cells, seen = [], {}
    for m in methods:
        all_axes = {**axes, **m["axes"]}
        keys = list(all_axes)
        for values in itertools.product(*all_axes.values()):
            settings = dict(zip(keys, values))
            for seed in seeds:
                sets = {**fixed, **m["set"], **settings}
                if seed is not None:
                    sets[SEED] = seed
                overrides = [override(k, v) for k, v in sets.items()]
                label = m["label"] or m["method"] or _base_method(base) or "run"
                cell = Cell(
                    _name(label, settings, seed), label, m["method"], settings, seed, overrides
                )
                if cell.name in seen:
                    raise UserError(
                        f"two cells of the grid are both named {cell.name}; give the methods "
                        "distinct labels (methods: [{method: ..., label: ...}]) or distinct values"
                    )
                seen[cell.name] = cell
                cells.append(cell)
    return cells


def override(key: str, value: Any) -> str:
    """``key=value`` with the value in YAML flow style, read back as the same value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-5`` (no dot) as a string: such a value becomes the float it says."""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [_number(v) for v in value]
    return value


def _name(label: str, settings: dict[str, Any], seed: int | None) -> str:
    """``label__key=value__...__seed=S``: the key's last part unless two axes share it."""
    lasts = [k.rsplit(".", 1)[-1] for k in settings]
    parts = [label]
    for key, last in zip(settings, lasts):
        short = last if lasts.count(last) == 1 else key
        parts.append(f"{short}={_value(settings[key])}")
    if seed is not None:
        parts.append(f"seed={seed}")
    return UNSAFE.sub("-", "__".join(parts))


def _value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "+".join(_value(x) for x in v)
    if isinstance(v, dict):
        return "+".join(f"{k}-{_value(x)}" for k, x in v.items())
    return str(v)


def _known(tree: dict, keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(tree) - set(keys))
    if unknown:
        raise UserError(f"{where}: unknown key '{unknown[0]}'; known: {', '.join(keys)}")


def _listed(tree: dict, key: str) -> list:
    value = tree.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _method(entry: Any, where: str) -> dict:
    """``ga`` or ``{method: sga, label: ..., set: {...}, axes: {...}}`` as one mapping."""
    if entry is None or isinstance(entry, str):
        return {"method": entry, "label": entry, "set": {}, "axes": {}}
    if not isinstance(entry, dict) or not isinstance(entry.get("method"), str):
        raise UserError(f"{where}: a method is a name or a mapping with a 'method' name")
    _known(entry, METHOD_KEYS, where)
    label = entry.get("label") or entry["method"]
    return {
        "method": entry["method"],
        "label": str(label),
        "set": _settings(entry.get("set", {}), f"{where}.set"),
        "axes": _axes(entry.get("axes", {}), f"{where}.axes"),
    }


def _settings(tree: Any, where: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        raise UserError(f"{where} must be a mapping of dotted settings, got {tree!r}")
    if "method" in tree:
        raise UserError(f"{where}: set the method with 'methods', not as a setting")
    return {k: _number(v) for k, v in tree.items()}


def _axes(tree: Any, where: str) -> dict[str, list]:
    axes = _settings(tree, where)
    for key, values in axes.items():
        if key == SEED:
            raise UserError(f"{where}: {SEED} is an axis of its own: use 'seeds'")
        if not isinstance(values, list):
            raise UserError(f"{where}.{key} must be a list of values, got {values!r}")
        if not values:
            raise UserError(f"{where}.{key} is empty; give at least one value or drop the axis")
    return axes


def _base_path(name: str, folder: Path) -> Path:
    """A base config path: as given, else beside the grid file, else a packaged name."""
    from unlearnkit.config import resolve_config_path

    beside = folder / name
    return beside if not Path(name).is_file() and beside.is_file() else resolve_config_path(name)


def _base_method(base: Path | dict | None) -> str | None:
    if base is None:
        return None
    tree = base if isinstance(base, dict) else read_yaml(base)
    return tree.get("method")


def _check_configs(base: Path | dict | None, cells: list[Cell], where: str) -> None:
    """Every cell's config builds (unknown or mistyped settings fail before any run starts)."""
    from unlearnkit.api import RunConfig

    tree = base if isinstance(base, dict) else read_yaml(base) if base else {}
    for cell in cells:
        try:
            method = [f"method={json.dumps(cell.method)}"] if cell.method else []
            from_dict(RunConfig, apply_overrides(_copy(tree), method + cell.overrides))
        except UserError as e:
            raise UserError(f"{where}: cell {cell.name}: {e}") from None


def _copy(tree: dict) -> dict:
    return json.loads(json.dumps(tree))
