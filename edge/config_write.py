"""Writing the kiosk's configuration back: enrolment and calibration change a few keys.

The file stays the installer's: the keys not named are kept as they were (comments
are not: TOML has no standard way to keep them). The new text is checked by
`load_config` before it replaces the old one, and it replaces it atomically (a
temporary file in the same folder, flushed to disk, then renamed over), so a power
cut leaves the old configuration or the new one, never half of each.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from edge.config import Config, load_config
from edge.errors import ConfigError

__all__ = ["update_config", "write_private_file"]

Changes = Mapping[str, Mapping[str, Any]]  # section -> key -> new value (None: remove it)


def update_config(path: Path, changes: Changes, *, mode: int = 0o640) -> Config:
    """Set `changes` in the TOML file at `path` (created if missing); returns it loaded.

    Raises ConfigError when the file cannot be read or the result is not a valid
    configuration; the file is then left as it was.
    """
    document = _read(path)
    for section, keys in changes.items():
        table = document.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(section, f"is not a table in {path}")
        for key, value in keys.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    text = tomli_w.dumps(document)
    with tempfile.TemporaryDirectory(prefix=".borne-config-") as scratch:
        candidate = Path(scratch) / path.name
        candidate.write_text(text, encoding="utf-8")
        config = load_config(candidate, environ={})  # refuses what the kiosk would refuse
    write_private_file(path, text.encode("utf-8"), mode=mode)
    return config


def write_private_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write `data` to `path` atomically with `mode` from its creation (never readable
    by others, even for an instant); the folder is created if missing (mode 0750)."""
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8"
        raise ConfigError("config", f"{path} cannot be read ({reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("config", f"{path} is not valid TOML ({error})") from None
