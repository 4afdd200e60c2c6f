"""upload-artifact / download-artifact stand-ins: artifacts as directories of the run's record.

Run by the composite stand-ins in tests/workflows/actions with the action's inputs in the
environment (NAME, PATHS, IF_NONE; NAME, PATTERN, DEST).
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shutil
import sys
from pathlib import Path


def _artifacts() -> Path:
    return Path(os.environ["STANDIN_RUN_DIR"]) / "artifacts"


def upload() -> int:
    name = os.environ["NAME"]
    patterns = [line.strip() for line in os.environ["PATHS"].splitlines() if line.strip()]
    files: list[Path] = []
    for pattern in patterns:
        for match in sorted(glob.glob(pattern, recursive=True)):
            path = Path(match)
            if path.is_dir():
                files.extend(p for p in sorted(path.rglob("*")) if p.is_file())
            elif path.is_file():
                files.append(path)
    if not files:
        how = os.environ.get("IF_NONE", "warn")
        print(f"upload-artifact (stand-in): no files for {name} ({how})", file=sys.stderr)
        return 1 if how == "error" else 0
    target = _artifacts() / name
    if target.exists():
        print(
            f"upload-artifact (stand-in): {name} was already uploaded in this run", file=sys.stderr
        )
        return 1
    absolute = [f.resolve() for f in files]
    root = Path(os.path.commonpath([str(f.parent) for f in absolute]))
    for file in absolute:
        dest = target / file.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, dest)
    print(f"upload-artifact (stand-in): {name}: {len(absolute)} file(s)")
    return 0


def download() -> int:
    name, pattern, dest = os.environ["NAME"], os.environ["PATTERN"], Path(os.environ["DEST"])
    available = sorted(p.name for p in _artifacts().glob("*")) if _artifacts().exists() else []
    if name:
        if name not in available:
            print(f"download-artifact (stand-in): no artifact {name}", file=sys.stderr)
            return 1
        shutil.copytree(_artifacts() / name, dest, dirs_exist_ok=True)
        return 0
    for found in (a for a in available if fnmatch.fnmatch(a, pattern or "*")):
        shutil.copytree(_artifacts() / found, dest / found, dirs_exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit({"upload": upload, "download": download}[sys.argv[1]]())
