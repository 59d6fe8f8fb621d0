"""The step DAG as a ``networkx.DiGraph``: order, cycles, ancestors, and its printed forms.

Nodes are step ids, edges run upstream -> downstream (data flow). The loader
orders steps with :func:`topo_order` (networkx's lexicographical topological
sort, ties broken by declaration order) and reports cycles as paths from
networkx's strongly connected components; target selection takes
``networkx.ancestors``. networkx is imported inside the functions: ``--help``
and a plan answered from the load memo never pay its ~150 ms import.
``to_mermaid`` and ``to_dot`` print a variant with a deterministic order, so
diffs of the output are meaningful.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import networkx

# A variant is any value with ``name`` and ``steps`` (each with id, kind, model,
# key, inputs, needs): omniflow.language.model.Variant, which this layer below
# the language does not import.
Variant = Any


def dependency_graph(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> networkx.DiGraph:
    """Nodes ``order`` (declaration order), an edge d -> s for each dependency d of s among them.

    Self-references and unknown names are left out: the loader reports those itself.
    """
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(order)
    for s in order:
        for d in deps.get(s, ()):
            if d != s and d in g:
                g.add_edge(d, s)
    return g


def topo_order(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """``(steps in dependency order, [])``, ties broken by declaration ``order``; ``([], cycles)`` when cyclic.

    ``deps`` maps a step to the steps it depends on; each cycle is ``[a, b, ..., a]``
    in data-flow order (a feeds b), starting at its first declared step.
    """
    import networkx as nx

    g = dependency_graph(order, deps)
    rank = {s: i for i, s in enumerate(order)}
    try:
        return list(nx.lexicographical_topological_sort(g, key=rank.__getitem__)), []
    except nx.NetworkXUnfeasible:
        return [], cycles(g, rank)


def cycles(g: networkx.DiGraph, rank: Mapping[str, int]) -> list[list[str]]:
    """One cycle per strongly connected component, as ``[first, ..., first]``, components in declaration order.

    The path is the shortest from the component's first declared step back to
    itself (ties by declaration order): one readable loop to break, not every
    elementary cycle (``simple_cycles`` can be exponentially many).
    """
    import networkx as nx

    out = []
    comps = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
    for comp in sorted(comps, key=lambda c: min(rank[s] for s in c)):
        first = min(comp, key=rank.__getitem__)
        sub = g.subgraph(comp)
        paths = [nx.shortest_path(sub, first, p) for p in sub.predecessors(first)]
        best = min(paths, key=lambda p: (len(p), [rank[s] for s in p]))
        out.append(best + [first])
    return out


def with_ancestors(variant: Variant, step_ids: Iterable[str]) -> set[str]:
    """The steps ``step_ids`` of ``variant`` and every step they depend on (data or ``needs``)."""
    import networkx as nx

    g = build_graph(variant)
    chosen: set[str] = set()
    for sid in step_ids:
        if sid in g:
            chosen.add(sid)
            chosen |= nx.ancestors(g, sid)
    return chosen


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
