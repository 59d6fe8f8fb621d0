"""YAML text → plain Python values plus a map from each value's path to its place in the file.

We compose (not construct) with PyYAML so every node keeps its line and
column; then we convert nodes ourselves, which is also where duplicate keys,
unsupported tags and alias bombs are caught. libyaml's CSafeLoader is used
when available (about ten times faster); the pure-Python SafeLoader otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from omniflow.errors import Location, Problem

Path = tuple[Any, ...]  # ("steps", "shot1", "images", 0)

# A "billion laughs" document is a few lines that expand to billions of nodes
# through aliases. Real storyboards are far below this bound (a 10,000-step
# pipeline is ~100,000 nodes).
MAX_NODES = 2_000_000

# One value (a prompt, a var) longer than this is refused where it is written; the
# same bound as a rendered template value (omniflow/language/sandbox.py).
MAX_SCALAR_CHARS = 100_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


class Mark(NamedTuple):
    """Where a value starts (0-based, as PyYAML counts) and whether it is a block scalar."""

    line: int
    column: int
    block: bool = False


@dataclass
class Document:
    """The converted document and where each of its values (and mapping keys) sits."""

    file: str
    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    text: str = ""

    _lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    def loc(self, path: Path, *, key: bool = False) -> Location:
        """The Location of the value at ``path`` (or of its key), falling back to the nearest parent."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            mark = table.get(p) or self.values.get(p)
            if mark is not None:
                return Location(self.file, mark.line + 1, mark.column + 1)
            p = p[:-1]
        return Location(self.file, 1, 1)

    def mark(self, path: Path) -> Mark | None:
        return self.values.get(tuple(path))


def parse(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    """Parse YAML text; on failure return the located problems instead of a document."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if what.startswith("found undefined alias"):
            # libyaml does not name the alias: read it at the mark
            name = _alias_at(text, mark)
            what = f"undefined alias *{name}: no anchor &{name} before it" if name else what
        elif exc.context:
            what = f"{exc.context}, {what}"
        return None, [Problem(Location(file, line, col), "", f"YAML syntax error: {what}")]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        line, col = _line_col(text, exc.position)
        code = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        what = "a NUL byte" if exc.character in (0, "\x00") else f"the control character {code}"
        return None, [Problem(Location(file, line, col), "", f"{what} is not allowed in YAML text")]
    except yaml.YAMLError as exc:  # e.g. a second document in the stream
        return None, [Problem(Location(file, 1, 1), "", f"YAML error: {exc}")]
    doc = Document(file, None, text=text)
    if node is None:
        return doc, []
    # an alias needs both an anchor (&) and a reference (*): skip the count otherwise
    if "&" in text and "*" in text and _expanded_size(node) > MAX_NODES:
        loc = Location(file, node.start_mark.line + 1, node.start_mark.column + 1)
        return None, [Problem(loc, "", f"the document expands to more than {MAX_NODES:,} values through aliases; refusing it (alias bomb?)")]
    problems: list[Problem] = []
    doc.data = _Converter(doc, problems).convert(node, ())
    return doc, problems


def _alias_at(text: str, mark: Any) -> str:
    if mark is None:
        return ""
    lines = text.splitlines()
    if mark.line >= len(lines):
        return ""
    rest = lines[mark.line][mark.column :]
    rest = rest[1:] if rest.startswith("*") else rest
    name = ""
    for ch in rest:
        if ch.isspace() or ch in ",[]{}":
            break
        name += ch
    return name


def _line_col(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    position = max(0, min(position, len(text)))
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded, counted without expanding.

    Aliases make the composed graph a DAG with shared nodes; sizes are
    memoised per node, so this is linear in the number of distinct nodes.
    """
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        if isinstance(node, yaml.ScalarNode):
            size[id(node)] = 1
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if done:
            size[id(node)] = min(1 + sum(size.get(id(c), 1) for c in children), MAX_NODES + 1)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return size[id(root)]


class _Converter:
    def __init__(self, doc: Document, problems: list[Problem]):
        self.doc = doc
        self.problems = problems

    def _mark(self, node: yaml.Node) -> Mark:
        m = node.start_mark
        return Mark(m.line, m.column, node.__dict__.get("style") in ("|", ">"))

    def _problem(self, node: yaml.Node, path: Path, message: str) -> None:
        m = node.start_mark
        self.problems.append(Problem(Location(self.doc.file, m.line + 1, m.column + 1), dotted(path), message))

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.doc.values[path] = self._mark(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        return self._mapping(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        tag = node.tag
        if len(node.value) > MAX_SCALAR_CHARS:
            self._problem(node, path, f"this value is {len(node.value):,} characters long, over the limit of {MAX_SCALAR_CHARS:,} for one value")
            return "…"  # a short stand-in, so nothing else is reported about the value
        if tag == _STR_TAG:
            return node.value
        if tag == "tag:yaml.org,2002:timestamp":
            return node.value  # a date stays the text the user wrote: requests are JSON
        if tag == "tag:yaml.org,2002:binary":
            return node.value
        if not tag.startswith("tag:yaml.org,2002:"):
            self._problem(node, path, f"unsupported YAML tag {tag}")
            return node.value
        try:
            return _constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self._problem(node, path, f"invalid value: {exc}")
            return node.value
        except ValueError as exc:
            self._problem(node, path, value_error(node.value, exc))
            return node.value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for source in _merge_sources(value_node):
                    if isinstance(source, yaml.MappingNode):
                        for k, v in self._mapping(source, path).items():
                            merged.setdefault(k, v)
                    else:
                        self._problem(value_node, path, "<< must merge a mapping")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, path, "mapping keys must be plain scalars")
                continue
            key = self._scalar(key_node, path)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                self._problem(key_node, path, "mapping keys must be plain scalars")
                continue
            sub = path + (key,)
            if key in out:
                first = self.doc.keys.get(sub)
                where = f" (first at line {first.line + 1})" if first else ""
                self._problem(key_node, sub, f"duplicate key {key!r}{where}")
                continue
            self.doc.keys[sub] = self._mark(key_node)
            out[key] = self.convert(value_node, sub)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def value_error(text: str, exc: ValueError) -> str:
    """The message for a scalar YAML reads but Python cannot build (a huge integer, a bad date)."""
    if "integer string conversion" in str(exc):
        digits = sum(c.isdigit() for c in text)
        return (f"an integer of {digits:,} digits is over the limit of {sys.get_int_max_str_digits():,} digits; "
                "quote it if it is text")
    return f"invalid value: {exc}"


def _merge_sources(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [node]


def dotted(path: Path) -> str:
    """``("steps", "shot1", "images", 0)`` → ``steps.shot1.images[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
