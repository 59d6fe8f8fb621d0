"""The exception tree and the exit codes, in one place.

    OmniflowError                 exit 1 unless a subclass says otherwise
    ├── PipelineError             exit 2: one or more located problems in a pipeline file
    ├── UsageError                exit 2: bad command-line use (unknown target, bad --set)
    ├── BudgetError               exit 3: the plan exceeds --max-cost / --max-seconds
    ├── PlanMismatch              exit 3: the plan differs from the saved plan approved (run --plan)
    ├── CacheError                exit 1: the cache or lock cannot be read or written
    ├── BackendError              exit 1: an API answer (HTTP status, API code, retryable?)
    │   └── UnknownCreateError    the create request was sent but its answer was lost
    ├── PublishError              exit 1: a local file cannot be turned into a URL the API can fetch
    ├── MediaError                exit 1: a local media file is missing, unreadable or of a kind omniflow does not handle
    ├── RemoteError               exit 1: the shared remote cache cannot be used
    │   └── RemoteCorruptError    a remote object or entry does not match its name; refused
    ├── StepFailed                exit 1: a remote task or local operation failed
    └── Interrupted               exit 130: Ctrl-C

Every error carries a message written for a person; ``PipelineError`` carries a
list of :class:`Problem` objects, each naming file, line, column and step path.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_BUDGET = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Location:
    """A place in a file: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One located problem: ``file:line:col: [warning: ]path: message``."""

    location: Location
    path: str  # dotted step path, e.g. "steps.shot2.seconds"; "" for the file itself
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        level = "warning: " if self.severity == "warning" else ""
        where = f"{self.path}: " if self.path else ""
        return f"{self.location}: {level}{where}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """In file order: file, line, column, then step path."""
    return sorted(problems, key=lambda p: (p.location.file, p.location.line, p.location.column, p.path))


class OmniflowError(Exception):
    """Base of every error omniflow raises on purpose."""

    exit_code = EXIT_FAILED


class PipelineError(OmniflowError):
    """The pipeline file is invalid; carries every problem found, not just the first."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem]):
        self.problems = sorted_problems(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(OmniflowError):
    exit_code = EXIT_INVALID


class BudgetError(OmniflowError):
    exit_code = EXIT_BUDGET


class PlanMismatch(OmniflowError):
    """``run --plan``: what would be bought now is not what the saved plan approved; nothing was sent.

    ``differences`` lists them, one line each (step added/removed, key, price,
    total or backend changed, the plan too old, its digest not the one expected).
    """

    exit_code = EXIT_BUDGET

    def __init__(self, message: str, differences: list[str] | tuple[str, ...] = ()):
        self.differences = tuple(differences)
        lines = [message, *(f"  {d}" for d in self.differences)]
        super().__init__("\n".join(lines))


class CacheError(OmniflowError):
    exit_code = EXIT_FAILED


class BackendError(OmniflowError):
    """An error answer (or no answer) from the API.

    ``status`` is the HTTP status (None when there was no response), ``code``
    the API's error code (``fail_to_fetch_task``, ``model_not_found``, ...),
    ``retryable`` whether re-sending the same request is safe and may succeed,
    ``retry_after`` the server's advice in seconds when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = f"HTTP {self.status}" if self.status is not None else "no response"
        code = f" {self.code}" if self.code else ""
        return f"{head}{code}: {self.message}"


class UnknownCreateError(BackendError):
    """A create request was sent but its answer was lost: a task may exist."""


class PublishError(OmniflowError):
    """A local file cannot be turned into a URL the API can fetch."""


class MediaError(OmniflowError):
    """A local media file is missing, unreadable or not a kind omniflow handles."""


class RemoteError(OmniflowError):
    """The remote store cannot be used: no credentials, unreachable, no bucket, denied."""


class RemoteCorruptError(RemoteError):
    """A remote object or index entry does not match its name; it was refused."""


class StepFailed(OmniflowError):
    """A step's task failed remotely, or its local operation failed."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class Interrupted(OmniflowError):
    exit_code = EXIT_INTERRUPTED

