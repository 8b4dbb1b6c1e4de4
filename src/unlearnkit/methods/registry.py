"""Method names → classes. Adding a method is one file plus one line here."""

from __future__ import annotations

from unlearnkit.config import from_dict
from unlearnkit.errors import UserError
from unlearnkit.methods.base import Method
from unlearnkit.methods.flat import FLAT
from unlearnkit.methods.ga import GA
from unlearnkit.methods.gd import GD
from unlearnkit.methods.idk import IDK
from unlearnkit.methods.idkdpo import IDKDPO
from unlearnkit.methods.kl import KL
from unlearnkit.methods.npo import NPO
from unlearnkit.methods.prism.method import PRISM
from unlearnkit.methods.rmu import RMU
from unlearnkit.methods.sam import SAM
from unlearnkit.methods.sga.method import SGA
from unlearnkit.methods.simnpo import SimNPO
from unlearnkit.methods.wga import WGA

METHODS: dict[str, type[Method]] = {
    cls.name: cls for cls in (GA, GD, KL, NPO, SimNPO, IDK, IDKDPO, RMU, SGA, FLAT, PRISM, SAM, WGA)
}


def method_names() -> list[str]:
    return sorted(METHODS)


def get_method(name: str, params: dict | None = None) -> Method:
    """The method ``name`` with its params checked against its params dataclass."""
    if name not in METHODS:
        raise UserError(f"unknown method '{name}'; known methods: {', '.join(method_names())}")
    cls = METHODS[name]
    if params is not None and not isinstance(params, dict):
        raise UserError(f"params of method '{name}' must be a mapping, got {params!r}")
    checked = from_dict(cls.Params, dict(params or {}), where="params")
    if getattr(cls, "wraps_base", False):  # a wrapper (SAM) gets its base method built here
        cls.check_base(checked)
        try:
            base = get_method(checked.base, checked.base_params)
        except UserError as e:  # name the setting where it was written: params.base_params.beta
            raise UserError(str(e).replace("params.", "params.base_params.", 1)) from e
        return cls(checked, base)
    return cls(checked)
