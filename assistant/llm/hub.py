"""Models from the Hugging Face hub, by name, in the hub's own cache layout.

``owner/repo`` lists the repository's GGUF files (through ``HfApi``, with the
LFS size and sha256 of each), groups split files (``-00001-of-00003``) into
one model, and picks the largest quant that fits in memory;
``owner/repo:Q4_K_M`` or ``owner/repo/file.gguf`` picks one. Files land where
``huggingface_hub`` keeps them (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``):
``blobs/<sha256>`` with a link under ``snapshots/<commit>/``, so any tool
using that cache shares them and a second pull only checks the listing.

Decision: the bytes come through huggingface_hub's ``http_get`` (its auth
headers, redirects, retries and Range resume), but into our own
``blobs/<sha256>.incomplete`` file, because ``hf_hub_download`` discards a
partial file when it stops: a killed pull then starts over. Our file is kept,
hashed as it grows, and renamed into ``blobs/`` only when its length and
sha256 match the hub's LFS metadata and its GGUF header and tensor table are
whole. A later pull hashes the kept part and asks for the rest, so at most the
chunk in flight when it died (``DOWNLOAD_CHUNK_SIZE``, 10 MB) is fetched again.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import Cancelled, ModelError
from assistant.llm.gguf_meta import SPLIT_NAME, GGUFDamaged, read_header

DEFAULT_ENDPOINT = "https://huggingface.co"
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*$")
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_(?:[0-9]|K|S|M|L|XS|XXS|XL|NL))*|BF16|F16|FP16|F32|"
    r"MXFP4(?:_MOE)?|TQ\d_\d)(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_HOST_PREFIXES = ("https://huggingface.co/", "huggingface.co/", "https://hf.co/", "hf.co/")


# ------------------------------------------------------------------ names
@dataclass(frozen=True)
class HubRef:
    """What the user asked for: a repository, maybe a quant or one file."""

    repo_id: str
    quant: str | None = None
    filename: str | None = None
    revision: str = "main"

    def __str__(self) -> str:
        text = self.repo_id
        if self.revision != "main":
            text += f"@{self.revision}"
        if self.filename:
            return f"{text}/{self.filename}"
        return f"{text}:{self.quant}" if self.quant else text


def parse_ref(text: str) -> HubRef | None:
    """``owner/repo``, ``owner/repo:QUANT``, ``owner/repo/path/file.gguf``,
    each optionally as ``owner/repo@REVISION...`` or after ``hf.co/``; None
    when ``text`` is none of these (a URL, a path, a stray word)."""
    text = text.strip()
    for prefix in _HOST_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    if "://" in text or text.startswith(("/", ".", "~")):
        return None
    parts = text.split("/")
    if len(parts) < 2:
        return None
    owner, rest = parts[0], parts[1]
    filename = "/".join(parts[2:]) or None
    quant = None
    if filename is None and ":" in rest:
        rest, quant = rest.split(":", 1)
    revision = "main"
    if "@" in rest:
        rest, revision = rest.split("@", 1)
    repo_id = f"{owner}/{rest}"
    if not REPO_ID.match(repo_id) or not revision:
        return None
    if filename is not None and not filename.lower().endswith(".gguf"):
        return None
    if quant is not None and not re.fullmatch(r"[\w.\-]+", quant):
        return None
    return HubRef(repo_id, quant.upper() if quant else None, filename, revision)


def quant_of(path: str) -> str | None:
    """The quant named in a file's path (``Q4_K_M``, ``IQ4_XS``, ``F16``...)."""
    name_hits = _QUANT.findall(Path(path).name)
    if name_hits:
        return str(name_hits[-1]).upper()
    dir_hits = _QUANT.findall(str(Path(path).parent))
    return str(dir_hits[-1]).upper() if dir_hits else None


# --------------------------------------------------------------- listings
@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int
    sha256: str | None  # from the hub's LFS metadata


@dataclass
class Variant:
    """One model file, or all the parts of a split one."""

    label: str  # the quant, or the file name when none is named
    files: list[RepoFile]
    quant: str | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def first(self) -> RepoFile:
        return self.files[0]


def group_variants(files: Iterable[RepoFile]) -> list[Variant]:
    """GGUF files grouped into models (split parts together), smallest first;
    vision projectors (``mmproj``) are left out."""
    groups: dict[tuple[str, str], list[RepoFile]] = {}
    for f in files:
        name = Path(f.path).name
        if not name.lower().endswith(".gguf") or "mmproj" in name.lower():
            continue
        match = SPLIT_NAME.match(name)
        key = (str(Path(f.path).parent), match["prefix"] if match else name)
        groups.setdefault(key, []).append(f)
    variants = []
    for members in groups.values():
        members.sort(key=lambda f: f.path)
        quant = quant_of(members[0].path)
        label = quant or Path(members[0].path).name
        variants.append(Variant(label, members, quant))
    labels = [v.label for v in variants]
    for v in variants:  # two files with one quant: tell them apart by name
        if labels.count(v.label) > 1:
            v.label = v.first.path
    variants.sort(key=lambda v: (v.size, v.label))
    return variants


@dataclass(frozen=True)
class RepoSummary:
    repo_id: str
    downloads: int
    likes: int
    updated: str


@dataclass
class PullResult:
    path: Path  # the model file (first part of a split model) in the snapshot
    repo_id: str
    commit: str
    variant: Variant
    fetched_bytes: int  # bytes downloaded by this pull
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    resumed_from: int = 0
    label: str = ""


# ---------------------------------------------------------------- the hub
def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps repositories, read from the environment now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


class _Quiet:
    """A progress bar that shows nothing: ours is drawn by the shell."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.n = 0

    def update(self, n: float = 1) -> None:
        self.n += int(n)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _HashingWriter:
    """The ``.incomplete`` file as huggingface_hub's ``http_get`` sees it:
    every chunk is written, flushed to the OS (so a kill keeps it), reported
    and checked against the cancel flag. The sha256 is computed by a thread
    beside the download (hashlib lets go of the interpreter lock), so hashing
    overlaps the network instead of following it."""

    def __init__(
        self,
        path: Path,
        have: int,
        digest: Any,
        on_bytes: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> None:
        import queue

        # not O_APPEND: on ext4, 10 MB appends measured ten times slower than writes
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.lseek(fd, have, os.SEEK_SET)
        self.fh = open(fd, "wb", buffering=0)  # noqa: SIM115 - closed by the caller
        os.chmod(path, 0o600)
        self.digest = digest
        self.rehash = False
        self.written = 0
        self.start = have
        self._on_bytes = on_bytes
        self._cancel = cancel
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._hasher = threading.Thread(target=self._hash, name="sha256", daemon=True)
        self._hasher.start()

    def _hash(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self.digest.update(chunk)

    def write(self, chunk: bytes) -> int:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled("download stopped")
        self.fh.write(chunk)
        self._queue.put(chunk)
        self.written += len(chunk)
        self._on_bytes(len(chunk))
        return len(chunk)

    def tell(self) -> int:
        return self.fh.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        # the server ignored our Range: http_get starts the file over
        self.rehash = True
        return self.fh.truncate(size)

    def close(self) -> None:
        """Close the file and wait for the hash to catch up."""
        self._queue.put(None)
        self._hasher.join()
        self.fh.close()


class Hub:
    """The hub at ``HF_ENDPOINT`` (default huggingface.co), with ``HF_TOKEN``
    (or the token saved by ``hf auth login``) and the cache under ``HF_HOME``;
    all read when the object is made, so tests and users can set them late."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.endpoint = hub_endpoint()
        self.cache = hub_cache_dir()
        self.timeout = timeout
        self.token = os.environ.get("HF_TOKEN") or None
        if self.token is None:
            try:
                from huggingface_hub import get_token

                self.token = get_token()
            except Exception:  # no token file, or an unreadable one: anonymous
                self.token = None
        self._use_timeouts()
        # its retry notices are for developers; ours is the one sentence at the end
        import logging

        logging.getLogger("huggingface_hub").setLevel(logging.ERROR)

    def _use_timeouts(self) -> None:
        """huggingface_hub's shared HTTP client waits forever by default (its
        listing calls take no timeout), and reads HF_HUB_OFFLINE once, when it
        is imported: give it a client with our timeout, and decide about
        offline mode ourselves (``hub_offline``, read at each pull)."""
        try:
            import httpx2
            import huggingface_hub

            timeout = self.timeout

            def factory() -> Any:
                return httpx2.Client(follow_redirects=True, timeout=timeout)

            huggingface_hub.set_client_factory(factory)
        except (ImportError, AttributeError):  # another huggingface_hub: its own defaults
            pass

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token or False)

    # --------------------------------------------------------- errors
    def _sentence(self, exc: BaseException, what: str) -> ModelError:
        """One sentence for anything the hub (or the way to it) answered."""
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        repo = "/".join(what.split("/")[:2])  # "owner/repo/file.gguf" -> the repository
        if isinstance(exc, GatedRepoError):
            how = (
                "the token in HF_TOKEN has not been granted access yet"
                if self.token
                else "set HF_TOKEN to a token of an account that accepted them"
            )
            return ModelError(f"{repo} is gated: accept its conditions on its hub page, and {how}.")
        if isinstance(exc, RepositoryNotFoundError):
            private = "" if self.token else " (if it is private, set HF_TOKEN)"
            return ModelError(f"There is no model repository {repo} on the hub{private}.")
        if isinstance(exc, RevisionNotFoundError):
            return ModelError(f"{what} has no such revision on the hub.")
        if isinstance(exc, OfflineModeIsEnabled):
            return ModelError(
                f"HF_HUB_OFFLINE is set, so the hub is not asked for {what}; unset it to download."
            )
        if isinstance(exc, HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else "an error"
            if status in (401, 403):
                return ModelError(f"The hub refused access to {what} ({status}); check HF_TOKEN.")
            if status == 404:
                return ModelError(f"The hub has no {what} (404).")
            return ModelError(
                f"The hub at {self.endpoint} answered {status} for {what}; try again later."
            )
        name = type(exc).__name__
        if "Timeout" in name or isinstance(exc, TimeoutError):
            return ModelError(
                f"The hub at {self.endpoint} did not answer within {self.timeout:g} s; "
                "try again later."
            )
        if "Connect" in name or isinstance(exc, ConnectionError):
            return ModelError(
                f"Cannot reach the hub at {self.endpoint}; check the network "
                "(or HF_ENDPOINT) and try again."
            )
        if "Protocol" in name or "Network" in name or "Read" in name:
            return ModelError(
                f"The connection to the hub at {self.endpoint} broke while fetching {what}; "
                "run the same command again to resume."
            )
        raise exc

    def _call(self, what: str, job: Callable[[], Any]) -> Any:
        try:
            return job()
        except (ModelError, Cancelled):
            raise
        except Exception as exc:
            raise self._sentence(exc, what) from None

    # -------------------------------------------------------- listing
    def listing(self, ref: HubRef) -> tuple[str, list[Variant]]:
        """The commit ``ref.revision`` points at, and the repository's GGUF models."""
        if hub_offline():
            from huggingface_hub.errors import OfflineModeIsEnabled

            raise self._sentence(OfflineModeIsEnabled("offline"), ref.repo_id)
        revision = None if ref.revision == "main" else ref.revision

        def job() -> Any:
            return self._api().model_info(
                ref.repo_id, revision=revision, files_metadata=True, timeout=self.timeout
            )

        info = self._call(ref.repo_id, job)
        files = []
        for sibling in info.siblings or []:
            lfs = getattr(sibling, "lfs", None)
            size = (lfs.size if lfs is not None else None) or sibling.size or 0
            sha = lfs.sha256 if lfs is not None else None
            files.append(RepoFile(sibling.rfilename, int(size), sha))
        return str(info.sha or ref.revision), group_variants(files)

    def search(self, text: str, limit: int = 20) -> list[RepoSummary]:
        """GGUF repositories matching ``text``, most downloaded first."""
        if hub_offline():
            from huggingface_hub.errors import OfflineModeIsEnabled

            raise self._sentence(OfflineModeIsEnabled("offline"), f"'{text}'")

        def job() -> list[RepoSummary]:
            found = self._api().list_models(
                search=text, filter="gguf", sort="downloads", limit=limit
            )
            return [
                RepoSummary(
                    m.id,
                    int(getattr(m, "downloads", 0) or 0),
                    int(getattr(m, "likes", 0) or 0),
                    str(getattr(m, "last_modified", "") or "")[:10],
                )
                for m in found
            ]

        return list(self._call(f"models matching '{text}'", job))

    # ---------------------------------------------------------- choice
    @staticmethod
    def choose(ref: HubRef, variants: list[Variant], usable_bytes: int | None) -> Variant:
        """The variant ``ref`` names, or the largest whose file fits."""
        from assistant.llm.fit import download_fits, gb

        if not variants:
            raise ModelError(f"{ref.repo_id} has no GGUF files.")
        if ref.filename:
            for v in variants:
                if any(f.path == ref.filename for f in v.files):
                    return v
            raise ModelError(
                f"{ref.repo_id} has no file {ref.filename}; it has "
                + ", ".join(v.first.path for v in variants[:8])
                + "."
            )
        if ref.quant:
            for v in variants:
                if v.quant == ref.quant or v.label.upper() == ref.quant:
                    return v
            raise ModelError(
                f"{ref.repo_id} has no {ref.quant} file; it has "
                + ", ".join(v.label for v in variants)
                + "."
            )
        if usable_bytes is None:
            return variants[-1]
        fitting = [v for v in variants if download_fits(v.size, usable_bytes)]
        if fitting:
            return fitting[-1]
        smallest = variants[0]
        raise ModelError(
            f"None of the {len(variants)} files of {ref.repo_id} fits in the "
            f"{gb(usable_bytes)} of memory free; the smallest, {smallest.label}, is "
            f"{gb(smallest.size)}: pull {ref.repo_id}:{smallest.label} to download it anyway."
        )

    # ------------------------------------------------------------ cache
    def storage(self, repo_id: str) -> Path:
        from huggingface_hub.file_download import repo_folder_name

        return self.cache / repo_folder_name(repo_id=repo_id, repo_type="model")

    def cached_commit(self, ref: HubRef) -> str | None:
        ref_file = self.storage(ref.repo_id) / "refs" / ref.revision
        try:
            return ref_file.read_text().strip() or None
        except OSError:
            return ref.revision if re.fullmatch(r"[0-9a-f]{40}", ref.revision) else None

    def cached_variants(self, ref: HubRef) -> tuple[str, list[Variant]] | None:
        """What an earlier pull left in the cache for ``ref`` (no network)."""
        commit = self.cached_commit(ref)
        if commit is None:
            return None
        snapshot = self.storage(ref.repo_id) / "snapshots" / commit
        if not snapshot.is_dir():
            return None
        files = []
        for p in sorted(snapshot.rglob("*.gguf")):
            try:
                blob = p.resolve(strict=True)
            except OSError:
                continue
            sha = blob.name if re.fullmatch(r"[0-9a-f]{64}", blob.name) else None
            files.append(RepoFile(p.relative_to(snapshot).as_posix(), blob.stat().st_size, sha))
        variants = group_variants(files)
        return (commit, variants) if variants else None

    # --------------------------------------------------------- download
    def pull(
        self,
        ref: HubRef,
        *,
        usable_bytes: int | None = None,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> PullResult:
        """Download what ``ref`` names (or the largest that fits ``usable_bytes``)
        into the hub cache and return the model file's path there."""
        notices: list[str] = []
        try:
            commit, variants = self.listing(ref)
        except ModelError as exc:
            cached = self.cached_variants(ref)
            if cached is None:
                raise
            commit, variants = cached
            notices.append(f"{exc} Using the copy already downloaded.")
            variant = self.choose(ref, variants, usable_bytes)
            path = self.storage(ref.repo_id) / "snapshots" / commit / variant.first.path
            return PullResult(path, ref.repo_id, commit, variant, 0, notices)
        variant = self.choose(ref, variants, usable_bytes)
        storage = self.storage(ref.repo_id)
        total = variant.size
        done = [0]

        def on_bytes(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress(Progress(done[0], total, 0, variant.label))

        fetched = 0
        for f in variant.files:
            fetched += self._fetch_file(ref.repo_id, commit, f, storage, on_bytes, cancel)
        if not re.fullmatch(r"[0-9a-f]{40}", ref.revision):
            (storage / "refs").mkdir(parents=True, exist_ok=True)
            (storage / "refs" / ref.revision).write_text(commit)
        path = storage / "snapshots" / commit / variant.first.path
        return PullResult(path, ref.repo_id, commit, variant, fetched, notices)

    def _fetch_file(
        self,
        repo_id: str,
        commit: str,
        f: RepoFile,
        storage: Path,
        on_bytes: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> int:
        """One file into ``blobs/`` and its link into the snapshot; the bytes fetched."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.utils import WeakFileLock, build_hf_headers

        url = hf_hub_url(repo_id, f.path, revision=commit, endpoint=self.endpoint)
        what = f"{repo_id}/{f.path}"
        meta = self._call(
            what, lambda: get_hf_file_metadata(url, token=self.token or False, timeout=self.timeout)
        )
        etag = (meta.etag or "").strip('"')
        expected_sha = f.sha256 or (etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None)
        if f.sha256 and etag and re.fullmatch(r"[0-9a-f]{64}", etag) and etag != f.sha256:
            raise ModelError(
                f"The hub's listing and its file disagree about {what} "
                "(two different checksums); try again later."
            )
        size = meta.size if meta.size is not None else f.size
        blob_name = expected_sha or etag or hashlib.sha256(url.encode()).hexdigest()
        blobs = storage / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        blob = blobs / blob_name
        link = storage / "snapshots" / commit / f.path
        fetched = 0
        locks = self.cache / ".locks" / storage.name  # where huggingface_hub keeps its locks
        locks.mkdir(parents=True, exist_ok=True)
        with WeakFileLock(locks / f"{blob_name}.lock"):
            if not (blob.is_file() and blob.stat().st_size == size):
                fetched = self._download_blob(
                    what,
                    meta.location or url,
                    blob,
                    size,
                    expected_sha,
                    on_bytes,
                    cancel,
                    build_hf_headers(token=self.token or False),
                )
            else:
                on_bytes(size)
            _link(blob, link)
        return fetched

    def _download_blob(
        self,
        what: str,
        url: str,
        blob: Path,
        size: int,
        sha256: str | None,
        on_bytes: Callable[[int], None],
        cancel: threading.Event | None,
        headers: dict[str, str],
    ) -> int:
        from huggingface_hub import constants
        from huggingface_hub.file_download import http_get

        # http_get regroups the stream into pieces of this size through a
        # BytesIO; at its 10 MB default that copy halved the pull's speed
        # (bench.models: 0.58 s against 0.31 s for a plain stream, 0.32 s at
        # 1 MB). A smaller piece also loses less to a kill before the resume.
        constants.DOWNLOAD_CHUNK_SIZE = DOWNLOAD_PIECE
        part = blob.with_name(blob.name + ".incomplete")
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        digest = hashlib.sha256()
        if have:
            with open(part, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            on_bytes(have)
        writer = _HashingWriter(part, have, digest, on_bytes, cancel)
        try:
            self._call(
                what,
                lambda: http_get(
                    url,
                    writer,  # type: ignore[arg-type]
                    resume_size=have,
                    headers=headers,
                    expected_size=size,
                    tqdm_class=_Quiet,
                ),
            )
        except Cancelled:
            got = part.stat().st_size if part.exists() else 0
            raise ModelError(
                f"Download stopped at {got / 1e6:,.0f} of {size / 1e6:,.0f} MB; run the same "
                "command again to resume."
            ) from None
        except OSError as exc:
            if "Consistency check failed" in str(exc):
                got = part.stat().st_size if part.exists() else 0
                raise ModelError(
                    f"The download of {what} ended early ({got:,} of {size:,} bytes); "
                    "run the same command again to resume."
                ) from None
            raise
        finally:
            writer.close()
        got = part.stat().st_size
        if got != size:
            raise ModelError(
                f"The download of {what} ended early ({got:,} of {size:,} bytes); "
                "run the same command again to resume."
            )
        if sha256:
            actual = digest.hexdigest()
            if writer.rehash:
                actual = _sha256_of(part)
            if actual != sha256:
                part.unlink(missing_ok=True)
                raise ModelError(
                    f"The download of {what} does not match the hub's checksum "
                    f"(sha256 {actual[:12]}… instead of {sha256[:12]}…); it was deleted, "
                    "run the same command again."
                )
        try:
            read_header(part)
        except GGUFDamaged as exc:
            part.unlink(missing_ok=True)
            raise ModelError(f"The hub's {what} is not a usable GGUF file: {exc}") from None
        os.replace(part, blob)
        return got - have


DOWNLOAD_PIECE = 1 << 20


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _link(blob: Path, link: Path) -> None:
    """``snapshots/<commit>/<path>`` -> ``blobs/<sha>``, relative as the hub's
    own cache does; a copy where links are not allowed."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        try:
            if link.resolve() == blob.resolve():
                return
        except OSError:
            pass
        link.unlink()
    target = os.path.relpath(blob, link.parent)
    try:
        os.symlink(target, link)
    except OSError:
        import shutil

        shutil.copy2(blob, link)
