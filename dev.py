#!/usr/bin/env python3
"""The two commands a newcomer needs, with nothing installed but Python 3.11+.

    python3 dev.py demo     # the main job: the demo on the embedded transport
    python3 dev.py test     # every quality gate: ruff lint, ruff format, mypy strict, pytest

Other verbs: `run ARGS…` (any `texter-worker` command inside the venv), `lock` (re-pin
requirements.lock from pyproject.toml; needs `uv`, installed into the venv on demand).

The first call creates `.venv/` and installs `requirements.lock` with hash checking; later calls
reinstall only when the lock file changed. Standard library only: this file runs before any
dependency exists.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".lock-sha256"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def _sh(*args: str | Path) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def _check(*args: str | Path) -> None:
    code = _sh(*args)
    if code != 0:
        sys.exit(code)


def ensure_venv() -> None:
    """Create the venv and sync it with the lock file when the lock changed."""
    if sys.version_info < (3, 11):
        sys.exit("texter-worker needs Python 3.11 or newer")
    if not PY.exists():
        print(f"dev.py: creating {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print("dev.py: installing the locked dependencies", flush=True)
    pip = (PY, "-m", "pip", "--disable-pip-version-check", "-q")
    _check(*pip, "install", "--require-hashes", "-r", LOCK)
    # The project itself last, editable and without resolving anything: the lock is the truth.
    _check(*pip, "install", "--no-deps", "--no-build-isolation", "-e", ".")
    STAMP.write_text(digest)


def test(args: list[str]) -> int:
    """Every gate, in order of speed; the first failing one stops the run."""
    _check(BIN / "ruff", "check", ".")
    _check(BIN / "ruff", "format", "--check", ".")
    _check(BIN / "mypy")
    return _sh(BIN / "pytest", *args)


def lock() -> int:
    _check(PY, "-m", "pip", "install", "-q", "uv==0.13.8")
    return _sh(
        BIN / "uv",
        "pip",
        "compile",
        "pyproject.toml",
        "--extra",
        "dev",
        "--generate-hashes",
        "--universal",
        "--python-version",
        "3.11",
        "-o",
        LOCK.name,  # relative: the lock's header records the command, machine paths don't belong
    )


def main(argv: list[str]) -> int:
    verb, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if verb not in {"test", "demo", "run", "lock"}:
        print(__doc__)
        return 0 if verb in {"help", "-h", "--help"} else 2
    ensure_venv()
    if verb == "test":
        return test(rest)
    if verb == "lock":
        return lock()
    if verb == "demo":
        return _sh(BIN / "texter-worker", "demo", *rest)
    return _sh(BIN / "texter-worker", *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
