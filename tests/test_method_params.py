"""Method settings outside the domain of their maths (β = 0 where a loss divides by β, a negative
radius, a zero count) are one ``UserError`` when the method is built, before any model loads."""

from __future__ import annotations

from dataclasses import fields

import pytest

from unlearnkit.errors import UserError
from unlearnkit.methods.registry import METHODS, get_method

BAD = [
    ("npo", {"beta": 0}, "params.beta must be a finite number > 0, got 0"),
    ("npo", {"beta": -0.1}, "params.beta must be a finite number > 0, got -0.1"),
    ("simnpo", {"beta": 0}, "params.beta must be a finite number > 0"),
    ("idkdpo", {"beta": 0}, "params.beta must be a finite number > 0"),
    ("prism", {"beta": 0}, "params.beta must be a finite number > 0"),
    ("prism", {"gcd_eps": 0}, "params.gcd_eps must be a finite number > 0"),
    ("prism", {"probe_lr": -1e-3}, "params.probe_lr must be a finite number > 0"),
    ("prism", {"rho": -0.01}, "params.rho must be a finite number >= 0"),
    ("prism", {"lambda_max": -1}, "params.lambda_max must be a finite number >= 0"),
    ("prism", {"probe_epochs": 0}, "params.probe_epochs must be a whole number >= 1"),
    ("prism", {"probe_samples": 0}, "params.probe_samples must be a whole number >= 1"),
    ("wga", {"alpha": -1}, "params.alpha must be a finite number >= 0"),
    (
        "sam",
        {"base": "npo", "base_params": {"beta": 0}},
        "params.base_params.beta must be a finite number > 0",
    ),
]


@pytest.mark.parametrize(("method", "params", "message"), BAD)
def test_an_out_of_domain_setting_is_refused_when_the_method_is_built(method, params, message):
    with pytest.raises(UserError) as err:
        get_method(method, params)
    assert str(err.value) == message or str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("npo", {"beta": 1e-6}),
        ("prism", {"rho": 0, "lambda_max": 0, "probe_epochs": 1, "probe_samples": 1}),
        ("wga", {"beta": 0, "alpha": 0}),
    ],
)
def test_the_edges_of_each_domain_are_accepted(method, params):
    get_method(method, params)


def test_every_method_with_a_beta_refuses_beta_zero():
    """A new method whose loss divides by β gets the check too (WGA's β is an exponent: 0 is
    uniform weights)."""
    with_beta = [n for n, cls in METHODS.items() if "beta" in {f.name for f in fields(cls.Params)}]
    assert set(with_beta) == {"npo", "simnpo", "idkdpo", "prism", "wga"}
    for name in set(with_beta) - {"wga"}:
        with pytest.raises(UserError, match="params.beta must be a finite number > 0"):
            get_method(name, {"beta": 0})


def test_every_default_is_accepted():
    for name in METHODS:
        get_method(name)
