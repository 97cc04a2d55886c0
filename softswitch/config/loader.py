"""Load YAML config with line numbers; report every problem as ``file:line: path: message``.

Every YAML scalar is read as text (so ``0123`` stays ``0123`` and is judged as
an extension number, not silently turned into 123 or 83); pydantic then
converts text to numbers and booleans where the schema wants them.  Duplicate
keys are errors.  All problems of a file come out of one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .rules import cross_checks
from .schema import Config

_NULLS = {"", "~", "null", "Null", "NULL"}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 3x faster


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _path_text(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


class _Tree:
    """The YAML document as plain dicts/lists/strings, with the line of every node."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[tuple[str | int, ...], int] = {}
        self.problems: list[ConfigProblem] = []

    def build(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in out:
                    self.problems.append(ConfigProblem(self.file, key_node.start_mark.line + 1, _path_text(path + (key,)), "duplicate key"))
                    continue
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, path + (key,))
                self.lines[path + (key,)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.tag == "tag:yaml.org,2002:null" or (node.style is None and node.value in _NULLS):
            return None
        return node.value

    def line_of(self, path: tuple[str | int, ...]) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def load_config_text(text: str, file: str = "<config>") -> Config:
    tree = _Tree(file)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([ConfigProblem(file, line, "(yaml)", str(getattr(exc, "problem", exc)))]) from None
    if root is None:
        raise ConfigError([ConfigProblem(file, 1, "(top)", "the file is empty")])
    data = tree.build(root, ())
    problems = list(tree.problems)
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(ConfigProblem(file, tree.line_of(path), _path_text(path), message))
    for path, message in cross_checks(data):
        problems.append(ConfigProblem(file, tree.line_of(path), _path_text(path), message))
    if problems or config is None:
        unique = sorted(set(problems), key=lambda p: (p.line, p.path, p.message))
        raise ConfigError(unique)
    return config


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), 1, "(file)", exc.strerror or str(exc))]) from None
    return load_config_text(text, str(path))
