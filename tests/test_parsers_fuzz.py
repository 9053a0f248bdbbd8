"""Every parser of outside input answers with a result or its typed error, nothing else.

Configuration files, environment overrides, journey files and catalog sources are
written by people and other systems; hypothesis throws arbitrary ones at them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import string
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.catalog import Catalog
from edge.config import Config, check_data_dir, load_config
from edge.errors import CatalogError, ConfigError
from kiosk.journey import STEP_KINDS, JourneyError, load_journey

# BORNE_FUZZ_EXAMPLES=2000 for a longer hunt than the suite does by default.
FUZZ = settings(
    max_examples=int(os.environ.get("BORNE_FUZZ_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow],
    deadline=None,
)

# Real section and key names, so that documents reach the checks behind the names
# (ranges, the TLS files, loyalty prefixes), plus names that mean nothing.
_SECTIONS = {
    name: sorted(getattr(field.annotation, "model_fields", {}))
    for name, field in Config.model_fields.items()
}
sections = st.sampled_from([*_SECTIONS, "nfc", "x"])
config_keys = st.sampled_from(sorted({key for keys in _SECTIONS.values() for key in keys} | {"x"}))
keys = st.sampled_from(["device", "mqtt", "storage", "host", "port", "tls", "data_dir", "x", "1"])
scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),  # NaN and infinities included: TOML has them
    st.booleans(),
    st.text(alphabet=string.printable, max_size=20),
    st.sampled_from(["", "/", ".", "/etc/hostname", "925", "simulated", "full", "fr"]),
)
toml_values = st.one_of(scalars, st.lists(scalars, max_size=3))
# One table of a document: mostly its section's own keys, sometimes a stranger.
tables = sections.flatmap(
    lambda name: st.tuples(
        st.just(name),
        st.dictionaries(st.sampled_from([*_SECTIONS.get(name, []), "x"]), toml_values, max_size=5),
    )
)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), scalars),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Environment values: arbitrary text, and text that looks like what each key wants.
environment_values = st.one_of(
    st.text(),
    st.sampled_from(["nan", "inf", "-inf", "0", "-1", "65536", "1e999", "yes", "925,92a", ",,"]),
    st.integers().map(str),
    st.floats().map(str),
)


def config_error(path: Path | None, environ: dict[str, str]) -> ConfigError | None:
    """The ConfigError `load_config` raised, or None if it loaded."""
    try:
        load_config(path, environ)
    except ConfigError as error:
        return error
    return None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(value)


@FUZZ
@given(st.lists(tables, max_size=4, unique_by=lambda table: table[0]))
def test_any_config_file_loads_or_names_its_problem(
    document: list[tuple[str, dict[str, Any]]],
) -> None:
    text = "".join(
        f"[{name}]\n" + "".join(f"{key} = {_toml_value(v)}\n" for key, v in body.items())
        for name, body in document
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kiosk.toml"
        path.write_text(text)
        error = config_error(path, {})
    if error is not None:
        assert error.where
        assert error.problem


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_as_config_file(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kiosk.toml"
        path.write_bytes(raw)
        config_error(path, {})


@FUZZ
@given(st.dictionaries(st.text(alphabet=string.ascii_uppercase + "_", max_size=20), st.text()))
def test_any_environment_loads_or_names_the_variable(environ: dict[str, str]) -> None:
    prefixed = {f"BORNE_{key}": value for key, value in environ.items()}
    error = config_error(None, prefixed)
    if error is not None:
        assert error.where


@FUZZ
@given(st.dictionaries(st.tuples(sections, config_keys), environment_values, max_size=5))
def test_any_value_for_a_real_variable_loads_or_names_it(
    overrides: dict[tuple[str, str], str],
) -> None:
    environ = {
        f"BORNE_{section.upper()}__{key.upper()}": text
        for (section, key), text in overrides.items()
    }
    error = config_error(None, environ)
    if error is not None:
        assert error.where in environ or error.where.partition(".")[0] in _SECTIONS
        assert error.problem


@FUZZ
@given(
    st.one_of(
        st.text(max_size=30), st.sampled_from(["a-file", "a-file/data", "..", "/", "x" * 300])
    )
)
def test_any_data_dir_is_usable_or_refused_and_nothing_is_created(name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "a-file").write_text("not a folder")
        refusal = None
        try:
            config = load_config(None, {"BORNE_STORAGE__DATA_DIR": f"{folder}/{name}"})
            assert check_data_dir(config) == config.data_dir
        except ConfigError as error:
            refusal = error
        assert os.listdir(folder) == ["a-file"]
    if refusal is not None:
        assert refusal.where in {"storage.data_dir", "BORNE_STORAGE__DATA_DIR"}


@FUZZ
@given(json_values)
def test_any_journey_file_parses_or_says_why(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "journey.json"
        path.write_text(json.dumps(document))
        try:
            steps = load_journey(path)
        except JourneyError:
            return
    assert all(step.kind in STEP_KINDS for step in steps)


@FUZZ
@given(json_values)
def test_any_catalog_source_loads_or_is_refused(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "catalog.json"
        source.write_text(json.dumps(document))
        catalog = Catalog(Path(folder) / "catalog.sqlite")
        try:
            with contextlib.suppress(CatalogError):
                catalog.load_source(source)
        finally:
            catalog.close()
