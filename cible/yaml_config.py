"""What the configurations (segmentation, scoring, the sources) share: the base of their
pydantic models, one error listing every problem with its key path in the YAML, and reading
the file.

A problem reads ``algorithm.k_min: must be at least 2, found 1``; all of a file's problems are
raised at once, so a user fixes the file in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator


class ConfigError(ValueError):
    """The configuration cannot be used; the message lists every problem and how to fix it."""

    def __init__(self, problems: Iterable[str], source: str = "configuration"):
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"{source}: {len(self.problems)} problem(s), nothing was run. Fix:\n{lines}"
        )


class Problems(ValueError):
    """Raised by a validator: `(key, message)` pairs, each key a path below the value being
    validated (``"k_min"``, ``"shares[0].columns"``; ``""`` for the value itself)."""

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.problems))


class Section(BaseModel):
    """A mapping of settings: unknown keys refused, immutable, and an empty section (``key:``
    with nothing under it) takes every default. Rules across its fields
    (`cross_field_problems`) read the raw mapping, so that they are reported with the other
    problems even when one of the fields is invalid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def cross_field_problems(cls, data: Any) -> list[tuple[str, str]]:
        """`(key, message)` pairs of the rules across fields, from the raw mapping."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _with_cross_field_rules(cls, data: Any, handler):
        data = {} if data is None else data
        problems = cls.cross_field_problems(data)
        try:
            config = handler(data)
        except ValidationError as error:
            if not problems:
                raise
            raise Problems([*_problems(error, cls), *problems]) from None
        if problems:
            raise Problems(problems)
        return config


class ConfigFile(Section):
    """A whole configuration file, which knows where it was read from."""

    _source: str = PrivateAttr(default="<memory>")

    @property
    def source(self) -> str:
        """Where the configuration was read from."""
        return self._source


F = TypeVar("F", bound=ConfigFile)


def read_yaml(path: Path, hint: str) -> Any:
    """The parsed YAML file; a missing file or invalid YAML is a :class:`ConfigError`."""
    if not path.exists():
        raise ConfigError([f"file not found; {hint}"], str(path))
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError([f"not valid YAML: {error}"], str(path)) from error


def parse(model: type[F], data: Any, source: str = "<memory>") -> F:
    """`data` (the parsed YAML) validated by `model`; raises a :class:`ConfigError` listing
    every problem."""
    try:
        config = model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe(error, model), source) from None
    config._source = source
    return config


def describe(error: ValidationError, model: type[BaseModel]) -> list[str]:
    """Every problem of a pydantic error as ``key.path: what to fix``."""
    return [f"{path}: {message}" if path else message for path, message in _problems(error, model)]


def _problems(error: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    errors = error.errors(include_url=False)
    # A tuple with an invalid item also fails its min_length (pydantic-core 2.50 counts the
    # valid items only, 2026-12-04): the item's own problem is the one to report.
    failed_items = {
        item["loc"][:i]
        for item in errors
        for i, part in enumerate(item["loc"])
        if type(part) is int
    }
    found = []
    for item in errors:
        cause = (item.get("ctx") or {}).get("error")
        if item["type"] == "too_short" and item["loc"] in failed_items:
            continue
        if isinstance(cause, Problems):
            found += [(_path([*item["loc"], key]), message) for key, message in cause.problems]
        else:
            found.append((_path(item["loc"]), _message(item, model)))
    return found


def _path(loc: Iterable[Any]) -> str:
    """`("targets", "p", "kind")` as ``targets.p.kind``, list indexes as ``[0]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and part != "[key]":  # pydantic's marker of a dict key: the key is named
            path += f".{part}" if path else str(part)
    return path


MESSAGES = {
    "missing": "is required",
    "greater_than_equal": "must be at least {ge}, found {input!r}",
    "greater_than": "must be greater than {gt}, found {input!r}",
    "less_than_equal": "must be at most {le}, found {input!r}",
    "less_than": "must be below {lt}, found {input!r}",
    "int_type": "must be a whole number, found {input!r}",
    "float_type": "must be a number, found {input!r}",
    "bool_type": "must be true or false, found {input!r}",
    "string_type": "must be a text, found {input!r}",
    "string_too_short": "must not be empty",
    "too_short": "must list at least {min_length} item(s), found {actual_length}",
    "list_type": "must be a list, found {input!r}",
    "tuple_type": "must be a list, found {input!r}",
    "dict_type": "must be a mapping, found {input!r}",
}


def _message(item: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind, ctx, loc = item["type"], item.get("ctx") or {}, item["loc"]
    if kind == "extra_forbidden":
        allowed = _settings_of(_model_at(model, loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (check the spelling)"
        return f"unknown setting; expected one of {', '.join(allowed)}{hint}"
    if kind == "literal_error":
        expected = ctx["expected"].replace("'", "").replace(" or ", ", ")
        return f"unknown value {item['input']!r}; use one of {expected}"
    if kind in ("model_type", "model_attributes_type"):
        keys = ", ".join(_settings_of(_model_at(model, loc)))
        return f"must be a mapping of {keys}; found {item['input']!r}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx["error"])
    if kind in MESSAGES:
        return MESSAGES[kind].format(input=item["input"], **ctx)
    return item["msg"]


def _settings_of(model: type[BaseModel] | None) -> list[str]:
    """The keys a section accepts (fields filled in by the code, marked `exclude`, aside)."""
    if model is None:
        return []
    return [name for name, field in model.model_fields.items() if not field.exclude]


def _model_at(model: type[BaseModel], loc: Iterable[Any]) -> type[BaseModel] | None:
    """The section class validating the value at `loc` below `model`, if any."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            current = field.annotation if field else None
        elif get_origin(current) in (tuple, list):
            current = get_args(current)[0]
        elif get_origin(current) in (dict, Mapping):
            current = get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`X` from ``Annotated[X, ...]`` and ``X | None``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def at(data: Any, *keys: str) -> Any:
    """The value under `keys` in a raw (maybe invalid) mapping; None when a level is missing
    or not a mapping."""
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def items(data: Any) -> list[Any]:
    """`data` when it is a list (or a tuple: a dumped model), else nothing."""
    return list(data) if isinstance(data, list | tuple) else []
