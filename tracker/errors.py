"""The one exception tree of the package.

    TrackerError                 anything the tracker raises on purpose; has .hint
    ├── UsageError               bad input on the command line or in an API call (exit 2)
    │   ├── PlaceNotFound        no place matches; carries up to three suggestions
    │   └── AmbiguousPlace       several places match; carries the candidates
    ├── DataFileError            a data or settings file is malformed; names file and line
    ├── ConfigError              settings are invalid or contradictory
    ├── StorageError             the database is unreachable or refused a write
    ├── SchemaError              the database schema does not match this tracker and
    │                            may not be migrated on our own (exit 2)
    └── SourceError              one watched page could not be fetched or extracted
                                 (recorded per source; the cycle goes on)

Every error a user can cause says what to do about it: `str(err)` is the message and
`err.hint` (may be empty) the next step. The CLI prints both and exits with `exit_code`.
"""

from __future__ import annotations

from collections.abc import Sequence


class TrackerError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(TrackerError):
    exit_code = 2


class PlaceNotFound(UsageError):
    def __init__(self, text: str, suggestions: Sequence[str] = ()) -> None:
        self.text = text
        self.suggestions = list(suggestions)[:3]
        hint = (
            "Did you mean: " + ", ".join(self.suggestions) + "?"
            if self.suggestions
            else "Try `tracker places TEXT` to search by name or code."
        )
        super().__init__(f"unknown place: {text!r}", hint)


class AmbiguousPlace(UsageError):
    def __init__(self, text: str, candidates: Sequence[str]) -> None:
        self.text = text
        self.candidates = list(candidates)
        super().__init__(
            f"{text!r} matches several places: " + "; ".join(self.candidates),
            "Give a full code (ISO 3166-2 such as US-AL, ISO alpha-3 such as ALB) or an OCD id.",
        )


class DataFileError(TrackerError):
    exit_code = 2

    def __init__(self, path: str, line: int | None, message: str, hint: str = "") -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}", hint or "Fix the file; nothing from it was loaded.")


class ConfigError(TrackerError):
    exit_code = 2


class StorageError(TrackerError):
    exit_code = 3


class SchemaError(TrackerError):
    """The database schema and this tracker do not match, and migrating on our own is not
    allowed (a newer schema, or `auto_migrate` says no): the operator decides."""

    exit_code = 2


class SourceError(TrackerError):
    """A per-source failure: `stage` is config, robots, fetch, http, extract or internal.

    `status` is the HTTP status when there was one; `retry_after` (seconds) is set when
    the server asked to come back later."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        stage: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.stage = stage
        self.status = status
        self.retry_after = retry_after
