"""Before the first create: does the API still offer every model the run is about to use?

One ``GET /v1/models`` per run (``Backend.list_models``). A step
to run whose model is not offered stops the run before anything is sent (exit
2, the step and the model named), rather than paying for the steps before it
and failing there. A list that cannot
be had, lets the run go on with a note: each create then gets the API's own answer.
"""

from __future__ import annotations

from typing import Any

from omniflow.core.states import StepState
from omniflow.errors import UsageError
from omniflow.run.failures import reason_of


async def check_models(plan: Any, backend: Any, reporter: Any) -> None:
    """Raise :class:`UsageError` naming each step to run whose model ``backend`` does not offer."""
    from omniflow.run.units import REMOTE_KINDS  # noqa: PLC0415 - the registry of step kinds

    wanted = [(v.name, ps) for v in plan.variants for top in v.steps for ps in top.members()
              if ps.state == StepState.TO_RUN and ps.step.kind in REMOTE_KINDS and ps.step.model]
    if not wanted or backend is None:  # no backend: nothing remote to run
        return
    try:
        offered = set(await backend.list_models())
    except Exception as exc:  # noqa: BLE001 - cannot tell; the creates will
        reporter.note(f"could not ask which models the key may use ({reason_of(exc)}); going on")
        return
    refused = sorted({(f"{ps.step.id}@{name}" if name else ps.step.id): ps.step.model
                      for name, ps in wanted if ps.step.model not in offered}.items())
    if refused:
        shown = "; ".join(f"step {label!r} uses model {model!r}" for label, model in refused[:5])
        more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
        raise UsageError(f"the {backend.kind} API does not offer these models to this key: "
                         f"{shown}{more}; nothing was sent (see `omniflow models --check`)")
