"""Plain YAML data straight from libyaml's events: how a big lock is read fast and small.

``yaml.load`` composes the whole node tree (every scalar a Node with two
Marks) before building any value: for a 10,000-step lock (8 MB) that is ~8 s
and ~280 MB. Built from the parser's event stream instead, with the safe
loader's own resolver and scalar constructors, the same data takes about a
second and the memory of the result.

Only the YAML a lock needs is built here: mappings, sequences, untagged
scalars, anchors and aliases. Anything else (explicit tags, ``<<`` merge
keys, a mapping or a sequence used as a key, several documents, no libyaml,
any parser error) returns None, and the caller reads the text the located
way, which reports errors at file:line:col. A property test
(tests/store/test_lock.py) checks that the result equals ``yaml.safe_load``.
"""

from __future__ import annotations

from typing import Any

_STR = "tag:yaml.org,2002:str"
_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")
_KEY_TYPES = (str, int, float, bool, type(None))
_NO_KEY = object()


class _Unsupported(Exception):
    """Not in the subset built here: read the located way."""


def fast_load(text: str) -> Any:
    """The data of a one-document YAML text, as ``yaml.safe_load`` gives it; None when not in the subset."""
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", None)
    if loader_cls is None:
        return None
    loader = loader_cls(text)
    try:
        return _build(loader, yaml)
    except Exception:  # noqa: BLE001 - _Unsupported, a YAMLError, a bad date: the located reader says
        return None
    finally:
        loader.dispose()


def _build(loader: Any, yaml: Any) -> Any:
    from yaml.events import (
        AliasEvent,
        DocumentEndEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamEndEvent,
    )

    get = loader.get_event
    get()  # StreamStart
    if not isinstance(get(), DocumentStartEvent):
        raise _Unsupported  # empty text: the located reader says what is missing
    constructors = loader.yaml_constructors
    resolved: dict[str, Any] = {}  # plain scalar text -> value (keys and repeated values recur a lot)
    anchors: dict[str, Any] = {}
    # open collections: [container, pending mapping key or _NO_KEY (None for a list), anchor]
    stack: list[list[Any]] = []
    result: list[Any] = []

    def add(value: Any) -> None:
        if not stack:
            result.append(value)
            return
        top = stack[-1]
        container = top[0]
        if isinstance(container, list):
            container.append(value)
        elif top[1] is _NO_KEY:
            if not isinstance(value, _KEY_TYPES):
                raise _Unsupported  # a collection as a key
            top[1] = value
        else:
            container[top[1]] = value  # a repeated key: the last wins, as in SafeConstructor
            top[1] = _NO_KEY

    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            if event.tag not in (None, "!"):
                raise _Unsupported
            text = event.value
            if not event.implicit[0]:
                value: Any = text  # quoted, block or "! x": a string
            elif text in resolved:
                value = resolved[text]
            else:
                tag = loader.resolve(yaml.ScalarNode, text, event.implicit)
                if tag == _STR:
                    value = text
                elif tag in constructors and tag != "tag:yaml.org,2002:merge":
                    value = constructors[tag](loader, yaml.ScalarNode(tag, text))
                else:
                    raise _Unsupported  # merge keys, "=" (value) and other tags
                if len(resolved) < 65536:
                    resolved[text] = value
            if event.anchor is not None:
                anchors[event.anchor] = value
            add(value)
        elif kind is MappingStartEvent:
            if event.tag not in _MAP_TAGS:
                raise _Unsupported
            stack.append([{}, _NO_KEY, event.anchor])
        elif kind is SequenceStartEvent:
            if event.tag not in _SEQ_TAGS:
                raise _Unsupported
            stack.append([[], None, event.anchor])
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            container, _, anchor = stack.pop()
            if anchor is not None:
                anchors[anchor] = container
            add(container)
        elif kind is AliasEvent:
            if event.anchor not in anchors:
                raise _Unsupported  # recursive or unknown: the located reader reports it
            add(anchors[event.anchor])
        elif kind is DocumentEndEvent:
            break
        else:
            raise _Unsupported
    if not isinstance(get(), StreamEndEvent):
        raise _Unsupported  # a second document
    return result[0]
