"""The step DAG: ordering and cycle finding (pure Python, used while loading) and the networkx view.

Loading a pipeline needs only a topological order and, when there is none,
the cycle's path; that is done here without networkx, whose import alone
costs ~150 ms. ``build_graph`` gives the full networkx DiGraph for callers
that want graph algorithms; ``to_mermaid`` and ``to_dot`` print it with a
deterministic order, so diffs of the output are meaningful.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import networkx

    from omniflow.language.model import Variant


def topo_order(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """``(steps in dependency order, [])``, ties broken by declaration ``order``; ``([], cycles)`` when cyclic.

    ``deps`` maps a step to the steps it depends on; each cycle is ``[a, b, ..., a]``
    in data-flow order (a feeds b).
    """
    rank = {s: i for i, s in enumerate(order)}
    indeg = {s: 0 for s in order}
    users: dict[str, list[str]] = {s: [] for s in order}
    for s in order:
        for d in set(deps.get(s, ())):
            if d in indeg and d != s:
                indeg[s] += 1
                users[d].append(s)
    heap = [rank[s] for s in order if indeg[s] == 0]
    heapq.heapify(heap)
    out: list[str] = []
    while heap:
        s = order[heapq.heappop(heap)]
        out.append(s)
        for u in users[s]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, rank[u])
    if len(out) == len(order):
        return out, []
    done = set(out)
    return [], find_cycles([s for s in order if s not in done], deps)


def find_cycles(nodes: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One path per cycle among ``nodes``, as ``[a, b, ..., a]`` where each uses the next's output."""
    rank = {s: i for i, s in enumerate(nodes)}

    def upstream(node: str) -> Any:
        # the node's deps among ``nodes``, in declaration order
        return iter(sorted(set(deps.get(node, ())) & rank.keys(), key=rank.__getitem__))

    color: dict[str, int] = {}
    cycles: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    for start in nodes:
        if color.get(start):
            continue
        stack: list[tuple[str, Any]] = [(start, upstream(start))]
        onpath = [start]
        color[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                onpath.pop()
                color[node] = 2
                continue
            if color.get(nxt) == 1:
                cyc = onpath[onpath.index(nxt):] + [nxt]
                key = frozenset(cyc)
                if key not in seen_sets:
                    seen_sets.add(key)
                    # printed in data-flow order: upstream first
                    cycles.append(list(reversed(cyc)))
            elif not color.get(nxt):
                color[nxt] = 1
                onpath.append(nxt)
                stack.append((nxt, upstream(nxt)))
    return cycles


def build_graph(variant: Variant) -> networkx.DiGraph:
    """A DiGraph of one variant: nodes are step ids (attributes: kind, model, key), edges upstream → downstream.

    Edge attribute ``data`` is True for a data edge (the output is consumed) and
    False for a ``needs`` (ordering only) edge.
    """
    import networkx as nx

    g = nx.DiGraph()
    for s in variant.steps:
        g.add_node(s.id, kind=s.kind, model=s.model, key=s.key, variant=variant.name)
    for up, down, data in _edges(variant):
        g.add_edge(up, down, data=data)
    return g


def _label(s: Any) -> str:
    return f"{s.id}\\n{s.kind}: {s.model}" if s.model else f"{s.id}\\n{s.kind}"


def _edges(variant: Variant) -> list[tuple[str, str, bool]]:
    """(upstream, downstream, is a data edge) in step order; a needs that is also an input is one data edge."""
    out = []
    for s in variant.steps:
        for up in s.inputs:
            out.append((up, s.id, True))
        for up in s.needs:
            if up not in s.inputs:
                out.append((up, s.id, False))
    return out


def to_mermaid(variant: Variant) -> str:
    """Mermaid flowchart text; steps in topological order, edges in step order."""
    lines = ["flowchart LR"]
    for s in variant.steps:
        label = _label(s).replace("\\n", "<br/>").replace('"', "'")
        shape = ('["', '"]') if s.kind in ("video", "image") else ('(["', '"])')
        lines.append(f"    {s.id}{shape[0]}{label}{shape[1]}")
    for up, down, data in _edges(variant):
        lines.append(f"    {up} {'-->' if data else '-.->'} {down}")
    return "\n".join(lines) + "\n"


def to_dot(variant: Variant) -> str:
    """Graphviz dot text; steps in topological order, edges in step order."""
    name = variant.name or "pipeline"
    lines = [f"digraph {_dot_quote(name)} {{", "    rankdir=LR;", "    node [fontname=\"Helvetica\"];"]
    for s in variant.steps:
        shape = "box" if s.kind in ("video", "image") else "ellipse"
        lines.append(f"    {_dot_quote(s.id)} [label={_dot_quote(_label(s))}, shape={shape}];")
    for up, down, data in _edges(variant):
        style = "" if data else " [style=dashed]"
        lines.append(f"    {_dot_quote(up)} -> {_dot_quote(down)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'
