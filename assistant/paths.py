"""Every on-disk location the app uses.

Locations come from platformdirs; ``ASSISTANT_HOME`` moves all of them under one
folder (tests rely on this so they never touch the real home directory). Every
folder we create is private to the owner (0700), whatever the umask.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "assistant"


@dataclass(frozen=True)
class AppPaths:
    data: Path
    config: Path
    cache: Path

    @property
    def database(self) -> Path:
        return self.data / "assistant.db"

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"

    @property
    def models(self) -> Path:
        return self.cache / "models"

    @property
    def index(self) -> Path:
        return self.data / "index"

    @property
    def user_prompts(self) -> Path:
        return self.config / "prompts"


def app_paths() -> AppPaths:
    home = os.environ.get("ASSISTANT_HOME")
    if home:
        base = Path(home).expanduser()
        return AppPaths(data=base / "data", config=base / "config", cache=base / "cache")
    import platformdirs

    return AppPaths(
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make the leaf readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` if missing, with mode 0600 regardless of the umask."""
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path
