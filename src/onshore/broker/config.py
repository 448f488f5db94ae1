"""The broker layer's configuration: the ``[broker]`` table of the venue's TOML.

:func:`default_broker_table` returns the built-in table (``defaults.toml`` beside this
module); the venue's loader merges a user's partial table over it and hands the
result to :meth:`BrokerConfig.from_toml_table`, which validates every key and raises
:class:`BrokerConfigError` (a ``ValueError``) whose message starts with the dotted
path of the offending field, e.g. ``broker.kyc.minimum_age: expected an integer,
got '18'``. Unknown keys are refused too, so a misspelt key never leaves a default
silently in force. docs/broker.md documents each key and its regulatory source.
"""

from __future__ import annotations

import copy
import itertools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from onshore.broker.disclosures import VERSION_RE, shipped_documents
from onshore.broker.names import name_key
from onshore.core.spec import LEVERAGE_GRID, LEVERAGE_SCALE
from onshore.core.units import MONEY_GRID, RATE_GRID, BadDecimalError, Grid, OffGridError

RISK_TOLERANCES = ("low", "medium", "high")
"""The risk tolerances a profile may state, from lowest to highest."""

_WORD_RE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
_COUNTRY_RE = re.compile(r"[A-Z]{2}\Z")


class BrokerConfigError(ValueError):
    """An invalid ``[broker]`` table; the message starts with the field's dotted path."""


# ----------------------------------------------------------------------------- the config
@dataclass(frozen=True, slots=True)
class KycRules:
    """Who may be onboarded at all (see :mod:`onshore.broker.kyc`)."""

    minimum_age: int
    maximum_age: int
    permitted_countries: frozenset[str]
    sanctioned_names: tuple[str, ...]
    sanctioned_name_keys: frozenset[str]
    products: tuple[str, ...]
    objectives: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SuitabilityRules:
    """How a profile is scored (see :mod:`onshore.broker.suitability`)."""

    annual_income_steps_micros: tuple[int, ...]
    net_worth_steps_micros: tuple[int, ...]
    liquid_assets_steps_micros: tuple[int, ...]
    experience_years_steps: tuple[int, ...]
    product_points: Mapping[str, int]
    products_max_points: int
    risk_tolerance_points: Mapping[str, int]
    risk_tolerance_max_leverage: Mapping[str, int]  # hundredths, as LEVERAGE_GRID

    @property
    def max_score(self) -> int:
        """The highest score a profile can reach."""
        return (
            len(self.annual_income_steps_micros)
            + len(self.net_worth_steps_micros)
            + len(self.liquid_assets_steps_micros)
            + len(self.experience_years_steps)
            + self.products_max_points
            + max(self.risk_tolerance_points.values())
        )


@dataclass(frozen=True, slots=True)
class QualifiedRules:
    """Conditions, all required, for the ``qualified`` segment (experienced retail)."""

    min_score: int
    min_experience_years: int
    min_annual_income_micros: int
    min_net_worth_micros: int
    min_liquid_assets_micros: int
    derivatives: tuple[str, ...]
    risk_tolerances: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InstitutionalRules:
    """The individual eligible-contract-participant test, 7 U.S.C. 1a(18)(A)(xi)."""

    discretionary_investments_over_micros: int
    hedging_discretionary_investments_over_micros: int
    hedging_objective: str


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The validated ``[broker]`` table. Money in micro-dollars, leverage in hundredths."""

    review_period_days: int
    kyc: KycRules
    suitability: SuitabilityRules
    qualified: QualifiedRules
    institutional: InstitutionalRules
    margin_call_warning_ratio_ppb: int
    disclosure_versions: Mapping[str, str]

    @classmethod
    def from_toml_table(cls, table: Mapping[str, Any]) -> BrokerConfig:
        """Validate a complete ``[broker]`` table (defaults already merged in).

        Raises :class:`BrokerConfigError` naming the first field that is wrong.
        """
        return _build(_Table(table, "broker"))

    @classmethod
    def default(cls) -> BrokerConfig:
        """Return the built-in configuration."""
        return cls.from_toml_table(default_broker_table())


def default_broker_table() -> dict[str, Any]:
    """Return a fresh copy of the built-in ``[broker]`` table (from ``defaults.toml``)."""
    return copy.deepcopy(_default_table())


def broker_config(overrides: Mapping[str, Any] | None = None) -> BrokerConfig:
    """Return the built-in configuration with the partial ``[broker]`` table ``overrides`` merged over it.

    Tables merge key by key; every other value (lists included) replaces the default.
    """
    table = default_broker_table()
    if overrides:
        table = merge_tables(table, overrides)
    return BrokerConfig.from_toml_table(table)


def merge_tables(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` over ``base``: tables merge, everything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@cache
def _default_table() -> dict[str, Any]:
    text = resources.files("onshore.broker").joinpath("defaults.toml").read_text("utf-8")
    table: dict[str, Any] = tomllib.loads(text)["broker"]
    return table


# ----------------------------------------------------------------------------- reading
class _Table:
    """A TOML table with its dotted path, for error messages that name the field."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise BrokerConfigError(f"{path}: expected a table, got {data!r}")
        self.data: Mapping[str, Any] = data
        self.path = path

    def only(self, *keys: str) -> None:
        unknown = sorted(set(self.data) - set(keys))
        if unknown:
            raise BrokerConfigError(f"{self.path}.{unknown[0]}: unknown key (known: {', '.join(keys)})")

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise BrokerConfigError(f"{self.path}.{key}: missing")
        return self.data[key]

    def table(self, key: str) -> _Table:
        return _Table(self._get(key), f"{self.path}.{key}")

    def integer(self, key: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        return _integer(self._get(key), f"{self.path}.{key}", minimum=minimum, maximum=maximum)

    def decimal(self, key: str, grid: Grid) -> int:
        return _decimal(self._get(key), f"{self.path}.{key}", grid)

    def money(self, key: str) -> int:
        return _money(self._get(key), f"{self.path}.{key}")

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            raise BrokerConfigError(f"{self.path}.{key}: expected a non-empty string, got {value!r}")
        return value

    def strings(
        self, key: str, *, pattern: re.Pattern[str] | None = None, allow_empty: bool = False
    ) -> tuple[str, ...]:
        path = f"{self.path}.{key}"
        value = self._get(key)
        if not isinstance(value, list):
            raise BrokerConfigError(f"{path}: expected a list of strings, got {value!r}")
        if not value and not allow_empty:
            raise BrokerConfigError(f"{path}: must not be empty")
        seen: set[str] = set()
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise BrokerConfigError(f"{path}[{i}]: expected a non-empty string, got {item!r}")
            if pattern is not None and pattern.match(item) is None:
                raise BrokerConfigError(f"{path}[{i}]: {item!r} is not of the form {pattern.pattern}")
            if item in seen:
                raise BrokerConfigError(f"{path}[{i}]: {item!r} is listed twice")
            seen.add(item)
        return tuple(value)

    def steps(self, key: str, reader: str) -> tuple[int, ...]:
        path = f"{self.path}.{key}"
        value = self._get(key)
        if not isinstance(value, list):
            raise BrokerConfigError(f"{path}: expected a list, got {value!r}")
        if reader == "money":
            steps = tuple(_money(item, f"{path}[{i}]") for i, item in enumerate(value))
        else:
            steps = tuple(_integer(item, f"{path}[{i}]") for i, item in enumerate(value))
        for i in range(1, len(steps)):
            if steps[i] <= steps[i - 1]:
                raise BrokerConfigError(f"{path}[{i}]: steps must increase strictly")
        return steps


def _integer(value: object, path: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    if type(value) is not int:
        raise BrokerConfigError(f"{path}: expected an integer, got {value!r}")
    if value < minimum:
        raise BrokerConfigError(f"{path}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise BrokerConfigError(f"{path}: must be at most {maximum}, got {value}")
    return value


def _decimal(value: object, path: str, grid: Grid) -> int:
    if not isinstance(value, str):
        raise BrokerConfigError(f'{path}: decimal values are strings (write "{value}"), got {value!r}')
    try:
        return grid.parse(value)
    except (BadDecimalError, OffGridError) as exc:
        raise BrokerConfigError(f"{path}: {exc}") from exc


def _money(value: object, path: str) -> int:
    micros = _decimal(value, path, MONEY_GRID)
    if micros < 0:
        raise BrokerConfigError(f"{path}: must not be negative, got {value}")
    return micros


# ----------------------------------------------------------------------------- building
def _build(broker: _Table) -> BrokerConfig:
    broker.only("review_period_days", "kyc", "suitability", "qualified", "institutional", "margin_call", "disclosures")
    review_period_days = broker.integer("review_period_days", minimum=1, maximum=3660)
    kyc = _kyc(broker.table("kyc"))
    suitability = _suitability(broker.table("suitability"), kyc)
    qualified = _qualified(broker.table("qualified"), kyc)
    institutional = _institutional(broker.table("institutional"), kyc)
    margin_call = broker.table("margin_call")
    margin_call.only("warning_ratio")
    ratio_ppb = margin_call.decimal("warning_ratio", RATE_GRID)
    if ratio_ppb <= RATE_GRID.parse("1"):
        raise BrokerConfigError(f"{margin_call.path}.warning_ratio: must be above 1 (a level above maintenance)")
    return BrokerConfig(
        review_period_days=review_period_days,
        kyc=kyc,
        suitability=suitability,
        qualified=qualified,
        institutional=institutional,
        margin_call_warning_ratio_ppb=ratio_ppb,
        disclosure_versions=_disclosures(broker.table("disclosures")),
    )


def _kyc(t: _Table) -> KycRules:
    t.only("minimum_age", "maximum_age", "permitted_countries", "sanctioned_names", "products", "objectives")
    minimum_age = t.integer("minimum_age", maximum=150)
    maximum_age = t.integer("maximum_age", minimum=minimum_age + 1, maximum=200)
    countries = t.strings("permitted_countries", pattern=_COUNTRY_RE)
    names = t.strings("sanctioned_names", allow_empty=True)
    keys: set[str] = set()
    for i, name in enumerate(names):
        key = name_key(name)
        if not key:
            raise BrokerConfigError(f"{t.path}.sanctioned_names[{i}]: {name!r} has no letters or digits")
        keys.add(key)
    return KycRules(
        minimum_age=minimum_age,
        maximum_age=maximum_age,
        permitted_countries=frozenset(countries),
        sanctioned_names=names,
        sanctioned_name_keys=frozenset(keys),
        products=t.strings("products", pattern=_WORD_RE),
        objectives=t.strings("objectives", pattern=_WORD_RE),
    )


def _suitability(t: _Table, kyc: KycRules) -> SuitabilityRules:
    t.only(
        "annual_income_steps",
        "net_worth_steps",
        "liquid_assets_steps",
        "experience_years_steps",
        "product_points",
        "products_max_points",
        "risk_tolerance_points",
        "risk_tolerance_max_leverage",
    )
    products = t.table("product_points")
    product_points: dict[str, int] = {}
    for product in products.data:
        if product not in kyc.products:
            raise BrokerConfigError(f"{products.path}.{product}: not a product of broker.kyc.products")
        product_points[product] = products.integer(product, maximum=100)
    tolerance = t.table("risk_tolerance_points")
    tolerance.only(*RISK_TOLERANCES)
    tolerance_points = {name: tolerance.integer(name, maximum=100) for name in RISK_TOLERANCES}
    for lower, higher in itertools.pairwise(RISK_TOLERANCES):
        if tolerance_points[higher] < tolerance_points[lower]:
            raise BrokerConfigError(f"{tolerance.path}.{higher}: must not score below {lower}")
    caps = t.table("risk_tolerance_max_leverage")
    caps.only(*RISK_TOLERANCES)
    max_leverage: dict[str, int] = {}
    for name in RISK_TOLERANCES:
        if caps.data.get(name) is not None:
            cap = caps.decimal(name, LEVERAGE_GRID)
            if cap < LEVERAGE_SCALE:
                raise BrokerConfigError(f"{caps.path}.{name}: leverage must be at least 1")
            max_leverage[name] = cap
    return SuitabilityRules(
        annual_income_steps_micros=t.steps("annual_income_steps", "money"),
        net_worth_steps_micros=t.steps("net_worth_steps", "money"),
        liquid_assets_steps_micros=t.steps("liquid_assets_steps", "money"),
        experience_years_steps=t.steps("experience_years_steps", "integer"),
        product_points=product_points,
        products_max_points=t.integer("products_max_points", maximum=100),
        risk_tolerance_points=tolerance_points,
        risk_tolerance_max_leverage=max_leverage,
    )


def _qualified(t: _Table, kyc: KycRules) -> QualifiedRules:
    t.only(
        "min_score",
        "min_experience_years",
        "min_annual_income",
        "min_net_worth",
        "min_liquid_assets",
        "derivatives",
        "risk_tolerances",
    )
    derivatives = t.strings("derivatives")
    for i, product in enumerate(derivatives):
        if product not in kyc.products:
            raise BrokerConfigError(f"{t.path}.derivatives[{i}]: {product!r} is not a product of broker.kyc.products")
    tolerances = t.strings("risk_tolerances")
    for i, tolerance in enumerate(tolerances):
        if tolerance not in RISK_TOLERANCES:
            raise BrokerConfigError(f"{t.path}.risk_tolerances[{i}]: must be one of {', '.join(RISK_TOLERANCES)}")
    return QualifiedRules(
        min_score=t.integer("min_score"),
        min_experience_years=t.integer("min_experience_years"),
        min_annual_income_micros=t.money("min_annual_income"),
        min_net_worth_micros=t.money("min_net_worth"),
        min_liquid_assets_micros=t.money("min_liquid_assets"),
        derivatives=derivatives,
        risk_tolerances=tolerances,
    )


def _institutional(t: _Table, kyc: KycRules) -> InstitutionalRules:
    t.only("discretionary_investments_over", "hedging_discretionary_investments_over", "hedging_objective")
    objective = t.text("hedging_objective")
    if objective not in kyc.objectives:
        raise BrokerConfigError(
            f"{t.path}.hedging_objective: {objective!r} is not an objective of broker.kyc.objectives"
        )
    return InstitutionalRules(
        discretionary_investments_over_micros=t.money("discretionary_investments_over"),
        hedging_discretionary_investments_over_micros=t.money("hedging_discretionary_investments_over"),
        hedging_objective=objective,
    )


def _disclosures(t: _Table) -> dict[str, str]:
    known = shipped_documents()
    if not t.data:
        raise BrokerConfigError(f"{t.path}: at least one document is required")
    versions: dict[str, str] = {}
    for document, version in sorted(t.data.items()):
        if document not in known:
            raise BrokerConfigError(f"{t.path}.{document}: unknown document (known: {', '.join(known)})")
        if not isinstance(version, str) or VERSION_RE.match(version) is None:
            raise BrokerConfigError(
                f'{t.path}.{document}: a version is a string such as "1" or "2026.1", got {version!r}'
            )
        versions[document] = version
    return versions
