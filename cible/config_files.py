"""Reading a YAML settings file into a pydantic model, with every problem named at once."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def load_yaml_model(path: Path, model: type[Model], error: type[Exception], what: str) -> Model:
    """Validate ``path`` as ``model``.

    Raises:
        error: the file is missing, is not YAML, or has settings to fix (each listed with its
            key path, e.g. ``retention.days_without_contact: ...``).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as problem:
        raise error(f"cannot read the {what} {path}: {problem}") from problem
    except yaml.YAMLError as problem:
        raise error(f"{path} is not valid YAML: {problem}") from problem
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as problem:
        lines = [
            f"  {'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in problem.errors()
        ]
        raise error(f"{path} has settings to fix:\n" + "\n".join(lines)) from None
