"""Check that last night's restic backup finished and warn if it is stale."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

MAX_AGE = timedelta(hours=30)


def latest_snapshot_time(repository: str) -> datetime:
    """Ask restic for the newest snapshot in the repository."""
    out = subprocess.run(
        ["restic", "-r", repository, "snapshots", "--latest", "1", "--json"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    snapshots = json.loads(out)
    return datetime.fromisoformat(snapshots[-1]["time"])


def main() -> int:
    age = datetime.now(UTC) - latest_snapshot_time("/mnt/usb/restic")
    if age > MAX_AGE:
        print(f"Backup is stale: the last snapshot is {age} old.", file=sys.stderr)
        return 1
    print("Backup is fresh.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
