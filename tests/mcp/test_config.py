"""``[mcp]`` in omniflow.toml is read strictly: a misspelt cap would be no cap at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniflow.config import load_config
from omniflow.errors import UsageError


def _config(root: Path, text: str):  # type: ignore[no-untyped-def]
    (root / "omniflow.toml").write_text(text, encoding="utf-8")
    return load_config(root)


def test_max_cost_is_read_and_absent_means_no_cap(tmp_path: Path) -> None:
    assert _config(tmp_path, "[mcp]\nmax_cost = 2\n").mcp.max_cost == 2.0
    assert _config(tmp_path, "[prices]\n").mcp.max_cost is None


@pytest.mark.parametrize(("text", "says"), [
    ("[mcp]\nmax_cst = 2\n", "did you mean 'max_cost'"),
    ("[mcp]\nmax_cost = -1\n", "a number >= 0"),
    ("[mcp]\nmax_cost = true\n", "a number >= 0"),
    ("[mcp]\nmax_cost = \"5\"\n", "a number >= 0"),
    ("mcp = 3\n", "must be a table"),
])
def test_a_bad_mcp_section_is_one_located_error(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(UsageError, match="omniflow.toml: mcp") as caught:
        _config(tmp_path, text)
    assert says in str(caught.value)
