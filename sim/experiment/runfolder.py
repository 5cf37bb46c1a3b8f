"""A run folder: the results store of one experiment.

Layout (``results/<utc-stamp>-<scenario>-<hash8>/``)::

    manifest.json                      run id, argv, plan, seeds, hashes, versions, git, status
    scenario-<variant>.yaml            each variant's resolved scenario
    tables/<table>/variant=<v>/block-00012.parquet
    blocks/block-00012.json            written last: the block is complete

Every file is written to a hidden temporary name and renamed into place, so a killed run
leaves whole files only; a block counts as done only when its marker exists, and anything of
a block without one is rewritten on resume. The folder itself appears atomically, manifest and
scenarios included, before the first block is run. Provenance (run id, seed, scenario hash,
code version) is also stored in each Parquet file's metadata, so a file that travels alone
still says where it came from.

A block's marker lists the SHA-256 of each of its files, and the manifest those of the
scenario copies. Readers take exactly the files the markers list and check them first, so a
file of an unfinished block is never read, and one edited or damaged after it was written
stops ``compare``, ``report`` and ``--resume`` with :class:`RunFolderDamaged` (exit 65) naming
it. A write that fails (full disk, read-only folder) raises :class:`RunFolderWriteError`
(exit 74) and leaves the folder resumable. A folder being run holds an exclusive lock, so a
second ``--resume`` of it refuses instead of writing the same blocks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from sim import __version__
from sim.scenario.errors import ExitCode, ScenarioError
from sim.scenario.yamlio import parse, read_text

PACKAGES = (
    "simpy", "numpy", "scipy", "pandas", "pyarrow", "duckdb", "pydantic", "holidays", "matplotlib",
    "dask", "distributed",
)  # fmt: skip
MANIFEST = "manifest.json"
FORMAT = 3  # bump when the layout changes (3: file hashes in markers and manifest)
MAX_JSON_BYTES = 16 * 2**20  # a manifest or marker is a few kB; refuse to read a huge one


class RunFolderError(Exception):
    """A run folder that is missing or cannot be read (exit code 66, missing input)."""

    exit_code = ExitCode.MISSING_INPUT


class RunFolderDamaged(RunFolderError):
    """A run folder whose files changed after they were written (exit code 65, bad data)."""

    exit_code = ExitCode.INVALID_SCENARIO


class RunFolderBusy(RunFolderError):
    """Another process is running this folder (exit code 2, usage)."""

    exit_code = ExitCode.USAGE


class RunFolderWriteError(RunFolderError):
    """Writing into the run folder failed: disk full, read-only, gone (exit code 74, I/O)."""

    exit_code = ExitCode.IO_ERROR

    def __init__(self, path: Path | str, exc: OSError, resume: Path | None = None):
        reason = exc.strerror or str(exc)
        where = exc.filename or path
        hint = f"; finished blocks are kept: cutover run --resume {resume}" if resume else ""
        super().__init__(f"cannot write {where}: {reason}{hint}")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "cutover": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> dict[str, Any]:
    """The commit of the code and whether the work tree had changes (None outside git)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": bool(dirty)}


def environment() -> dict[str, Any]:
    """Software and machine, for the manifest and the report's model-reporting section."""
    return {
        "versions": versions(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "cpus": os.cpu_count(),
        **git_commit(),
    }


_MARKER = re.compile(r"block-(\d{5})\.json")


def slug(name: str) -> str:
    """A variant name as a safe folder name (the exact name is a column in every table)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _atomic_write(path: Path, write) -> str:
    """Call ``write(tmp_path)``, flush it to disk and rename it to ``path``; nothing partial
    survives a crash, even of the machine. Returns the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        digest = _sync_and_hash(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def _sync_and_hash(path: Path) -> str:
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        os.fsync(fh.fileno())
    return digest


def sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def write_json(path: Path, data: Any) -> str:
    return _atomic_write(
        path, lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n")
    )


def read_json(path: Path) -> Any:
    """A JSON file of the run folder, bounded in size and nesting; errors name the file."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise RunFolderDamaged(
                f"{path}: {size:,} bytes, over the limit of {MAX_JSON_BYTES // 2**20} MiB "
                "for a run folder's JSON file"
            )
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RunFolderDamaged(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except RecursionError:
        raise RunFolderDamaged(f"{path}: not JSON: nested too deeply") from None


class RunFolder:
    """One experiment's folder: create it, add blocks, read what is done."""

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = path
        self.manifest = manifest

    @classmethod
    def create(
        cls, root: Path, name: str, manifest: dict[str, Any], scenarios: dict[str, dict]
    ) -> RunFolder:
        """Make the folder with its manifest and resolved scenarios, all at once."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        except OSError as exc:
            raise RunFolderWriteError(root, exc) from None
        base, n = name, 1
        try:
            files = {}
            for variant, data in scenarios.items():
                file = tmp / f"scenario-{slug(variant)}.yaml"
                file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
                files[file.name] = _sync_and_hash(file)
            manifest = {"format": FORMAT, "run": name, **manifest, "files": files}
            while True:
                target = root / name
                if not target.exists():  # two runs of one scenario in the same second
                    manifest["run"] = name
                    write_json(tmp / MANIFEST, manifest)
                    try:
                        os.rename(tmp, target)  # fails, rather than merges, if just taken
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                            raise
                n += 1
                name = f"{base}-{n}"
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RunFolderWriteError(root, exc) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(target, manifest)

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Read a run folder's manifest; :class:`RunFolderError` says what is wrong."""
        path = Path(path)
        file = path / MANIFEST
        if not path.is_dir():
            raise RunFolderError(f"{path}: not a run folder (no such directory)")
        if not file.exists():
            raise RunFolderError(f"{file}: missing; {path} is not a run folder")
        try:
            manifest = read_json(file)
        except RunFolderDamaged as exc:  # an unreadable manifest: not a run folder to use
            raise RunFolderError(str(exc)) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise RunFolderError(
                f"{file}: field 'format': expected {FORMAT}, found "
                f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r} "
                "(written by another version of cutover)"
            )
        return cls(path, manifest)

    # ------------------------------------------------------------------ blocks
    def _marker(self, block: int) -> Path:
        return self.path / "blocks" / f"block-{block:05d}.json"

    def done_blocks(self) -> set[int]:
        folder = self.path / "blocks"
        if not folder.is_dir():
            return set()
        return {int(m[1]) for p in folder.iterdir() if (m := _MARKER.fullmatch(p.name))}

    def clean_partial(self) -> None:
        """Remove temporary files and the files of blocks that have no marker."""
        done = self.done_blocks()
        try:
            for p in self.path.rglob(".*.tmp"):
                p.unlink(missing_ok=True)
            for p in (self.path / "tables").rglob("block-*.parquet"):
                m = re.fullmatch(r"block-(\d+)\.parquet", p.name)
                if m and int(m[1]) not in done:
                    p.unlink()
        except OSError as exc:
            raise RunFolderWriteError(self.path, exc, self.path) from None

    def write_block(self, block: int, tables: dict[str, pd.DataFrame], info: dict) -> None:
        """Write one block's tables (each split by variant), then its marker with their hashes;
        :class:`RunFolderWriteError` if the disk refuses (the block is then not done)."""
        provenance = {
            k: self.manifest.get(k) for k in ("run", "root_seed", "scenario_hash", "commit")
        }
        provenance["block"] = block
        meta = {b"cutover": json.dumps(provenance, default=str).encode()}
        files: dict[str, str] = {}
        try:
            for name, frame in tables.items():
                for variant, part in frame.groupby("variant", sort=True):
                    table = pa.Table.from_pandas(part, preserve_index=False)
                    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
                    path = self.path / "tables" / name / f"variant={slug(variant)}"
                    file = path / f"block-{block:05d}.parquet"
                    digest = _atomic_write(file, partial(pq.write_table, table))
                    files[file.relative_to(self.path).as_posix()] = digest
            write_json(self._marker(block), {**info, "files": files})
        except OSError as exc:
            raise RunFolderWriteError(self.path, exc, self.path) from None

    def _markers(self) -> Iterator[tuple[Path, dict]]:
        """Each finished block's marker and its content, checked to list name -> hash."""
        for block in sorted(self.done_blocks()):
            marker = self._marker(block)
            info = read_json(marker)
            files = info.get("files") if isinstance(info, dict) else None
            if not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and not Path(k).is_absolute()
                and ".." not in Path(k).parts
                for k, v in files.items()
            ):  # fmt: skip
                raise RunFolderDamaged(f"{marker}: field 'files': missing or not name -> hash")
            yield marker, info

    def block_infos(self) -> Iterator[dict]:
        """Each finished block's marker (see :meth:`_markers`)."""
        for _, info in self._markers():
            yield info

    def block_files(self, table: str | None = None) -> list[Path]:
        """The files of the finished blocks (of one table, or all), each checked against
        the hash in its block's marker: :class:`RunFolderDamaged` names any that differ."""
        out = []
        for marker, info in self._markers():
            for rel, digest in sorted(info["files"].items()):
                if table is not None and not rel.startswith(f"tables/{table}/"):
                    continue
                file = self.path / rel
                if not file.is_file():
                    raise RunFolderDamaged(
                        f"{file}: missing, though {marker.name} lists it; "
                        "the run folder was changed after it was written"
                    )
                if sha256(file) != digest:
                    raise RunFolderDamaged(
                        f"{file}: its content differs from when it was written (SHA-256 in "
                        f"{marker.name}); the run folder was edited or damaged"
                    )
                out.append(file)
        return out

    def verify(self) -> None:
        """Check every finished block's files and the scenario copies against their hashes."""
        self.block_files()
        for name in self.manifest.get("files", {}):
            self._checked(name)

    def _checked(self, name: str) -> Path:
        digest = self.manifest.get("files", {}).get(name)
        file = self.path / name
        if not file.is_file():
            raise RunFolderDamaged(f"{file}: missing; the run folder was changed")
        if digest is None or sha256(file) != digest:
            raise RunFolderDamaged(
                f"{file}: its content differs from when it was written (SHA-256 in "
                f"{MANIFEST}); the run folder was edited or damaged"
            )
        return file

    def scenario_data(self, variant: str) -> dict[str, Any]:
        """A variant's resolved scenario as saved in the folder, hash-checked and read with
        the scenario loader's limits."""
        file = self._checked(f"scenario-{slug(variant)}.yaml")
        try:
            return parse(read_text(file), str(file)).data
        except ScenarioError as exc:
            raise RunFolderDamaged(str(exc)) from None

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        try:
            write_json(self.path / MANIFEST, self.manifest)
        except OSError as exc:
            raise RunFolderWriteError(self.path, exc, self.path) from None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one run or resume; :class:`RunFolderBusy` if another has it.

        An advisory ``flock`` on the folder itself (no lock file to leave behind), released by
        the kernel when its process dies, so a killed run never leaves the folder locked.
        Released explicitly on the way out too: worker processes forked while it is held share
        the descriptor, and closing ours alone would leave the folder locked by them."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise RunFolderError(f"{self.path}: cannot open: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunFolderBusy(
                    f"{self.path}: another cutover process is running this folder"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def tables(self) -> list[str]:
        folder = self.path / "tables"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
