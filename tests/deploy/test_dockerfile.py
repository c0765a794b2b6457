"""The Dockerfile installs as dev.py does, from the lock with hashes; runs as non-root.

No Docker engine here: the instructions are parsed and checked, and the lock subset the image
installs is checked against the installed packages' own metadata.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import importlib.util
import re
import sys
import tomllib
from dataclasses import dataclass
from types import ModuleType

from packaging.requirements import Requirement

from tests.deploy.support import ROOT
from worker.cli import build_parser
from worker.settings import VARIABLES

DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@dataclass(frozen=True)
class Instruction:
    stage: str
    op: str
    args: str


def instructions() -> list[Instruction]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found, stage = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, args = line.partition(" ")
        if op.upper() == "FROM":
            stage = args.split(" AS ")[-1].strip() if " AS " in args else args
        found.append(Instruction(stage, op.upper(), " ".join(args.split())))
    return found


def of(op: str, stage: str | None = None) -> list[Instruction]:
    return [i for i in instructions() if i.op == op and (stage is None or i.stage == stage)]


def dev_py_pip_installs() -> list[list[str]]:
    """dev.py's `pip install` argument lists, e.g. ['--require-hashes', '-r', 'LOCK']."""
    tree = ast.parse((ROOT / "dev.py").read_text())
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_check":
            args = [a.value if isinstance(a, ast.Constant) else ast.unparse(a) for a in node.args]
            if args[:2] == ["*pip", "install"]:  # not lock()'s one-off install of uv
                calls.append([str(a) for a in args[args.index("install") + 1 :]])
    return calls


def pip_installs(stage: str) -> list[str]:
    return [
        cmd.strip()
        for run in of("RUN", stage)
        for cmd in run.args.split("&&")
        if "pip install" in cmd
    ]


def test_stages() -> None:
    froms = of("FROM")
    assert [i.stage for i in froms] == ["builder", "runtime"]
    assert of("COPY", "runtime")[0].args == "--from=builder /opt/venv /opt/venv"


def test_builder_installs_the_lock_with_hashes_as_dev_py_does() -> None:
    lock_call, project_call = dev_py_pip_installs()
    assert lock_call == ["--require-hashes", "-r", "LOCK"]
    assert project_call == ["--no-deps", "--no-build-isolation", "-e", "."]
    installs = pip_installs("builder")
    runs = " ".join(i.args for i in of("RUN", "builder"))
    # the lock: the runtime part of requirements.lock, verbatim, installed with hash checking
    assert "lock_subset.py runtime requirements.lock pyproject.toml > /tmp/runtime.lock" in runs
    assert any(c.endswith("pip install --require-hashes -r /tmp/runtime.lock") for c in installs)
    assert all("--require-hashes" in c for c in installs if " -r " in c)
    assert "COPY requirements.lock pyproject.toml README.md ./" in [
        f"COPY {i.args}" for i in of("COPY", "builder")
    ]
    # the project: dev.py's flags, minus -e (an image carries no source tree)
    project = [c for c in installs if c.endswith(" .")]
    assert len(project) == 1
    assert "--no-deps --no-build-isolation ." in project[0]
    assert project[0].startswith("PYTHONPATH=/opt/build-backend /opt/venv/bin/python -m pip")


def test_runtime_user_is_not_root() -> None:
    users = of("USER", "runtime")
    assert len(users) == 1
    user, _, group = users[0].args.partition(":")
    assert user not in {"root", "0"}
    assert group not in {"root", "0"}
    assert int(user) >= 1000
    creates = " ".join(i.args for i in of("RUN", "runtime"))
    assert f"--uid {user}" in creates
    assert f"--gid {group}" in creates


def test_entrypoint_is_the_console_script() -> None:
    assert of("ENTRYPOINT")[-1].args == '["texter-worker"]'
    assert of("CMD")[-1].args == '["run"]'
    target = PYPROJECT["project"]["scripts"]["texter-worker"]
    assert target == "worker.cli:main"
    script = importlib.metadata.entry_points(group="console_scripts")["texter-worker"]
    assert script.value == target
    assert callable(script.load())
    assert build_parser().parse_args(["run"]).command == "run"


def test_port_healthcheck_and_state_volume() -> None:
    assert of("EXPOSE")[-1].args == "8080"
    health = of("HEALTHCHECK")[-1].args
    assert "/healthz" in health
    assert "HTTP_PORT" in health
    env = " ".join(i.args for i in of("ENV", "runtime"))
    assert "STATE_DIR=/var/lib/texter-worker" in env
    assert of("VOLUME")[-1].args == '["/var/lib/texter-worker"]'
    runs = " ".join(i.args for i in of("RUN", "runtime"))
    assert "install -d -o texter -g texter -m 0750 /var/lib/texter-worker" in runs


def test_runtime_env_names_are_known_settings() -> None:
    names = {
        pair.split("=", 1)[0]
        for i in of("ENV", "runtime")
        for pair in i.args.split()
        if "=" in pair
    }
    ours = {n for n in names if not n.startswith(("PYTHON", "PATH"))}
    assert ours <= {v.name for v in VARIABLES}


def test_every_copied_path_passes_the_dockerignore() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        verdict = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                verdict = negate
        return verdict

    for copy in of("COPY"):
        if copy.args.startswith("--from"):
            continue
        for source in copy.args.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert included(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    assert not included(".env")
    assert not included(".venv")
    assert not included("state")


# --- the lock subset (deploy/docker/lock_subset.py) ----------------------------------------


def _script() -> ModuleType:
    """deploy/docker/lock_subset.py, loaded from its path (a script, not a package)."""
    path = ROOT / "deploy" / "docker" / "lock_subset.py"
    spec = importlib.util.spec_from_file_location("lock_subset", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _subset(part: str) -> str:
    text: str = _script().subset(LOCK.read_text(), PYPROJECT, part)
    return text


def _names(lock_text: str) -> set[str]:
    return {e.name for e in _script().parse_lock(lock_text)}


def _runtime_closure() -> set[str]:
    """Every package texter-worker needs at run time, from the installed metadata (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    while todo:
        req = todo.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in importlib.metadata.requires(req.name) or []]
    return seen


def test_runtime_subset_holds_every_runtime_dependency_and_no_dev_tool() -> None:
    runtime = _names(_subset("runtime"))
    assert _runtime_closure() <= runtime
    assert not runtime & {"pytest", "ruff", "mypy", "hatchling", "types-pyyaml"}


def test_build_subset_is_the_backend_and_its_dependencies() -> None:
    build = _names(_subset("build"))
    assert build == {"hatchling", "packaging", "pathspec", "pluggy", "trove-classifiers"}


def test_subset_keeps_entries_verbatim_with_their_hashes() -> None:
    lock = LOCK.read_text()
    for part in ("runtime", "build"):
        text = _subset(part)
        entries = re.split(r"\n(?=\S)", text.strip())
        for entry in entries:
            assert entry in lock, entry.splitlines()[0]
            assert "--hash=sha256:" in entry, entry.splitlines()[0]
