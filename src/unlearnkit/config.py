"""Configs: nested dataclasses, YAML files and dotted ``key=value`` overrides.

``load_config(RunConfig, "world/npo", ["params.beta=0.2", "train.learning_rate=1e-5"])``
reads the YAML, applies the overrides in order and builds the dataclass, checking every key and
type so a typo fails with one clear line instead of being ignored.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from unlearnkit import io
from unlearnkit.errors import UserError

T = TypeVar("T")


def parse_value(text: str) -> Any:
    """YAML scalar parsing for override values: 1e-5, true, null, [a, b], {k: v}, plain strings."""
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except (yaml.YAMLError, RecursionError) as e:
        raise UserError(f"cannot parse override value '{text}': {str(e).splitlines()[0]}") from e


def apply_overrides(tree: dict, overrides: list[str]) -> dict:
    """Set ``a.b.c=value`` paths in a nested dict (creating sub-dicts as needed)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
            raise UserError(f"malformed override '{item}'; write key=value, e.g. params.beta=0.2")
        node = tree
        *parents, leaf = key.strip().split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"override '{item}': '{part}' is a value, not a section")
            node = child
        node[leaf] = parse_value(value)
    return tree


def packaged_config(name: str | Path) -> Path | None:
    """The file of a config shipped with the package (``world/npo``), or None."""
    from importlib import resources

    packaged = Path(str(resources.files("unlearnkit") / "configs")) / Path(name)
    for candidate in (packaged, packaged.with_suffix(".yaml")):
        if candidate.is_file():
            return candidate
    return None


def resolve_config_path(name: str | Path) -> Path:
    """A YAML path, or the name of a config shipped with the package (``world/npo``)."""
    path = Path(name)
    if path.is_file():
        return path
    packaged = packaged_config(name)
    if packaged is not None:
        return packaged
    raise UserError(
        f"config file not found: {name} (neither a file nor a packaged config like world/npo)"
    )


def read_yaml(path: str | Path) -> dict:
    path = resolve_config_path(path)
    data = io.read_yaml(path) or {}
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a mapping of settings at the top level")
    return data


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise UserError(
                f"{where} must be one of {', '.join(map(str, typing.get_args(hint)))}, got {value!r}"
            )
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a section (mapping), got {value!r}")
        return from_dict(hint, value, where)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        coerced = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return coerced if origin is list else tuple(coerced)
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and not math.isfinite(number):  # nan, inf, 1e999
            raise UserError(f"{where} must be a finite number, got {value!r}")
        if number is not None:
            return number
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        fix = f"; quote it: '{value}'" if hint is str and isinstance(value, (int, float)) else ""
        raise UserError(
            f"{where} must be {hint.__name__}, got {value!r} ({type(value).__name__}){fix}"
        )
    return value


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(
            f"unknown setting '{where}.{unknown[0]}'; known: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


# Permissions that let a model run code on this machine: a person gives them on the command line
# (or in the Python call), never a config file someone handed over.
PERMISSIONS = {"allow_pickle": "--allow-pickle", "trust_remote_code": "--trust-remote-code"}


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict | None = None,
) -> T:
    tree = dict(base or {})
    if path:
        from_file = read_yaml(path)
        for key, flag in PERMISSIONS.items():
            if key in from_file:
                raise UserError(
                    f"config {path} sets '{key}': a permission that lets the model run code comes "
                    f"only from the command line ({flag}), never from a file"
                )
        tree = _merge(tree, from_file)
    apply_overrides(tree, list(overrides or []))
    return from_dict(cls, tree)


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)
