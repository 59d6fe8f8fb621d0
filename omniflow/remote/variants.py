"""Partial variant targets: ``shot@style=noir`` means every variant whose ``style`` is ``noir``.

A variant of a matrix sweep is named by its values in matrix key order,
``style=noir,seconds=4`` (values slugified: lowercase letters, digits, dots
and dashes, so neither ``,`` nor ``=`` can occur in one). A target's variant
part names either one variant exactly or a subset of those ``key=value``
pairs, in any order; it selects every variant that has all of them.

This is a pure function over names, with no pipeline and no I/O, so the
target resolution of ``omniflow run``/``plan`` can call it per target and the
shard selection can share it. It lives beside the shard selection because
both answer "which variants".
"""

from __future__ import annotations

from collections.abc import Iterable

from omniflow.errors import UsageError


def parse_variant_name(name: str) -> dict[str, str]:
    """``"style=noir,seconds=4"`` -> ``{"style": "noir", "seconds": "4"}`` (``""`` -> ``{}``)."""
    pairs: dict[str, str] = {}
    for part in name.split(",") if name else ():
        key, _, value = part.partition("=")
        pairs[key] = value
    return pairs


def match_variants(target_variant: str, variant_names: Iterable[str]) -> list[str]:
    """The names in ``variant_names`` that ``target_variant`` selects, in their given order.

    - an exact variant name selects that variant (also the ``""`` of a
      pipeline without matrix);
    - an empty target selects every variant (``shot@`` is ``shot``);
    - ``k=v[,k2=v2...]`` selects every variant having all those pairs; a
      value is compared slugified, as variant names are made
      (``style=Hand Drawn`` is ``style=hand-drawn``).

    Nothing selected is a :class:`~omniflow.errors.UsageError` naming the
    unknown key or value with "did you mean" (exit 2), never an empty list.
    """
    names = list(variant_names)
    if target_variant in names:
        return [target_variant]
    if not target_variant.strip():
        return names
    if "=" not in target_variant:  # meant as a whole name: suggest the closest one
        from omniflow.language.suggest import did_you_mean

        close = did_you_mean(target_variant, names)
        raise UsageError(f"variant {target_variant!r}: no variant has that name{close}; "
                         "to select by value write key=value pairs, e.g. style=noir")
    wanted = _parse_target(target_variant)
    parsed = {name: parse_variant_name(name) for name in names}
    hits = [name for name in names if all(parsed[name].get(k) == v for k, v in wanted.items())]
    if hits:
        return hits
    raise UsageError(_why_nothing(target_variant, wanted, list(parsed.values()), names))


def _parse_target(target_variant: str) -> dict[str, str]:
    from omniflow.language.matrix import slug  # the one slug rule the variant names were made with

    wanted: dict[str, str] = {}
    for part in target_variant.split(","):
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not key or not value:
            raise UsageError(f"variant {target_variant!r}: expected a variant name or key=value pairs "
                             "separated by commas, e.g. style=noir or style=noir,seconds=4")
        value = slug(value)
        if wanted.get(key, value) != value:
            raise UsageError(f"variant {target_variant!r}: {key} is given twice with different values "
                             f"({wanted[key]} and {value}), so no variant can match")
        wanted[key] = value
    return wanted


def _why_nothing(target_variant: str, wanted: dict[str, str], parsed: list[dict[str, str]],
                 names: list[str]) -> str:
    from omniflow.language.suggest import did_you_mean

    where = f"variant {target_variant!r}"
    if names == [""]:
        return f"{where}: this pipeline has no matrix, so its only variant is unnamed (drop @{target_variant})"
    keys = sorted({k for pairs in parsed for k in pairs})
    for key, value in wanted.items():
        if key not in keys:
            return (f"{where}: no matrix key {key!r}{did_you_mean(key, keys)} "
                    f"(the keys are {', '.join(keys)})")
        values = sorted({pairs[key] for pairs in parsed if key in pairs})
        if value not in values:
            return (f"{where}: no variant has {key}={value}{did_you_mean(value, values)} "
                    f"({key} is one of: {', '.join(values)})")
    # every pair exists somewhere, never all together: an excluded combination
    return f"{where}: no variant has all of {', '.join(f'{k}={v}' for k, v in wanted.items())} together"
