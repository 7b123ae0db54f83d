"""The `file` notifier: mail written as .eml files when no SMTP server is configured."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from types import TracebackType

from tracker.alerts.messages import Mail
from tracker.alerts.notifiers import Outcome
from tracker.settings import Settings


class FileNotifier:
    """Writes each message to <data_dir>/mail/<outbox key>.eml (no SMTP server set).

    The file name comes from the outbox key, and the file is written whole then renamed
    into place, so a retry replaces the same file instead of adding a second one."""

    def __init__(self, settings: Settings) -> None:
        self.folder = settings.data_path / "mail"

    def __enter__(self) -> FileNotifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def path_for(self, message_id: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>").split("@")[0])
        return self.folder / f"{name}.eml"

    def send(self, item: Mail) -> Outcome:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.path_for(item.message_id)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(item.as_bytes())
            os.replace(tmp, target)
        except OSError as exc:
            return Outcome("retry", f"cannot write to the mail folder {self.folder}: {exc}")
        return Outcome("sent")
