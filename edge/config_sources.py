"""Where configuration values come from, and how a refusal is told to a person.

Two pydantic-settings sources feed `edge.config.Config`: the TOML file's tables and
the `BORNE_<SECTION>__<KEY>` environment variables (the environment wins, key by key).
The environment source remembers which variable set which key, so that a bad value is
reported under the name the installer actually typed. `describe` turns pydantic's
validation errors into one sentence an installer can act on.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from edge.errors import ConfigError

ENV_PREFIX = "BORNE_"
HUB_ENV_PREFIX = "BORNE_HUB_"  # `borne hub`'s own variables
ENV_DELIMITER = "__"
# Keys whose value is never repeated in an error message (it may be a secret).
SECRET_KEYS = frozenset({"password"})

_EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "model": "a table",
    "dict": "a table",
    "tuple": "a list",
    "list": "a list",
}
_BOUND_WORDS = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
# Environment values are text: these types are read from it leniently ("8883", "yes").
_FROM_TEXT: dict[Any, TypeAdapter[Any]] = {
    int: TypeAdapter(int),
    float: TypeAdapter(float),
    bool: TypeAdapter(bool),
}


class KeyProblem(ValueError):
    """Raised by a section's cross-key check: which key of the section is wrong, and why."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def _sections(settings_cls: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Each section's name and model."""
    sections = {}
    for name, field in settings_cls.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            sections[name] = model
    return sections


class FileSource(PydanticBaseSettingsSource):
    """The TOML file's tables, as read; a top-level value that is not a table is refused
    here, before the environment is merged into it."""

    def __init__(self, settings_cls: type[BaseSettings], tables: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        for name, value in tables.items():
            if name in settings_cls.model_fields and not isinstance(value, dict):
                raise ConfigError(name, f"expected a table, got {_shown(name, value)}")
        self._tables = tables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """One section's table (unused by `__call__`, which returns them all)."""
        return self._tables.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._tables)


class ReadBySources(BaseSettings):
    """A whole configuration (the kiosk's, the hub's): frozen, unknown keys refused.

    pydantic-settings would read the environment and files itself; here the file and
    the environment come in only through the loader (`load_config`, `load_hub_config`),
    which knows where each value came from and so can name it in an error.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid", strict=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments only: the loader hands its sources over."""
        return (init_settings,)


class EnvironmentSource(PydanticBaseSettingsSource):
    """`{prefix}<SECTION>__<KEY>` variables of one mapping, as typed values.

    Variables starting with the prefix but without `__`, or with one of `others` (the
    prefixes of Borne's other programs: the hub's `BORNE_HUB_` for the kiosk), are not
    this program's and are ignored; one with `__` that names no key is refused.
    `variables` maps each (section, key) set here to the variable that set it.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        environ: Mapping[str, str],
        *,
        prefix: str = ENV_PREFIX,
        others: tuple[str, ...] = (HUB_ENV_PREFIX,),
    ) -> None:
        super().__init__(settings_cls)
        sections = _sections(settings_cls)
        self.variables: dict[tuple[str, str], str] = {}
        self._values: dict[str, dict[str, Any]] = {}
        for variable, text in environ.items():
            if not variable.startswith(prefix) or ENV_DELIMITER not in variable:
                continue
            if variable.startswith(others):
                continue
            section, _, key = variable.removeprefix(prefix).lower().partition(ENV_DELIMITER)
            model = sections.get(section)
            if model is None or key not in model.model_fields:
                raise ConfigError(variable, "does not name a configuration key")
            value = _from_text(variable, text, model.model_fields[key].annotation)
            self._values.setdefault(section, {})[key] = value
            self.variables[(section, key)] = variable

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """One section's overrides (unused by `__call__`, which returns them all)."""
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {section: dict(values) for section, values in self._values.items()}


def _from_text(variable: str, text: str, annotation: Any) -> Any:
    """An environment value as the key's type; its constraints are checked later, with
    the file's values."""
    adapter = _FROM_TEXT.get(annotation)
    if adapter is not None:
        try:
            return adapter.validate_python(text)
        except ValidationError:
            kind = _EXPECTED[annotation.__name__]
            raise ConfigError(variable, f"expected {kind}, got {text[:40]!r}") from None
    if get_origin(annotation) is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return text


def describe(
    settings_cls: type[BaseModel], error: ValidationError, variables: Mapping[tuple[str, str], str]
) -> tuple[str, str]:
    """(where, problem) for the first of pydantic's errors, counting the others."""
    errors = error.errors(include_url=False)
    first = errors[0]
    names = [part for part in first["loc"] if isinstance(part, str)]
    items = [part for part in first["loc"] if isinstance(part, int)]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, KeyProblem):
        names.append(cause.key)
    problem = _problem(settings_cls, names, first)
    if items:
        problem = f"item {items[0] + 1}: {problem}"
    if len(errors) > 1:
        others = len(errors) - 1
        problem += f" (and {others} other problem{'s' if others > 1 else ''})"
    variable = variables.get((names[0], names[1])) if len(names) >= 2 else None
    return variable or ".".join(names) or "file", problem


def _problem(settings_cls: type[BaseModel], names: list[str], error: Any) -> str:
    kind: str = error["type"]
    context: dict[str, Any] = error.get("ctx", {})
    if kind == "extra_forbidden":
        known = _model_at(settings_cls, names[:-1])
        keys = ", ".join(sorted(known.model_fields)) if known else ""
        return f"unknown key (known: {keys})"
    if kind == "value_error":
        return str(context["error"])
    if kind == "finite_number":
        return "must be a finite number (NaN and infinity are refused)"
    if kind == "literal_error":
        return "must be " + str(context["expected"]).replace("'", '"')
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _range(_field_at(settings_cls, names), str(error["msg"]))
    expected = _EXPECTED.get(kind.split("_")[0])
    if expected is not None and kind.endswith(("_type", "_parsing", "_from_float")):
        return f"expected {expected}, got {_shown(names[-1] if names else '', error['input'])}"
    return str(error["msg"])


def _shown(key: str, value: Any) -> str:
    """A refused value for a message: its type, and the value unless the key is secret."""
    kind = type(value).__name__
    if key in SECRET_KEYS:
        return kind
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def _model_at(settings_cls: type[BaseModel], names: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = settings_cls
    for name in names:
        field = model.model_fields.get(name) if model else None
        annotation = field.annotation if field else None
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return model


def _field_at(settings_cls: type[BaseModel], names: list[str]) -> FieldInfo | None:
    model = _model_at(settings_cls, names[:-1])
    return model.model_fields.get(names[-1]) if model and names else None


def _range(field: FieldInfo | None, fallback: str) -> str:
    """The allowed range of a number key, in words, from its schema."""
    bounds = {}
    for rule in field.metadata if field else []:
        for name in _BOUND_WORDS:
            value = getattr(rule, name, None)
            if value is not None:
                bounds[name] = value
    if "ge" in bounds and "le" in bounds:
        return f"must be between {bounds['ge']} and {bounds['le']}"
    if not bounds:
        return fallback
    return "must be " + " and ".join(
        f"{_BOUND_WORDS[name]} {value}" for name, value in bounds.items()
    )


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file's tables; ConfigError naming the file when it cannot be read or parsed."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(str(path), f"cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), f"is not valid TOML ({error})") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not UTF-8 text") from None
