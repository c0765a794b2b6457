#!/usr/bin/env python3
"""Print a part of requirements.lock, entries copied verbatim (pins, markers, hashes).

    python3 deploy/docker/lock_subset.py runtime requirements.lock pyproject.toml
    python3 deploy/docker/lock_subset.py build   requirements.lock pyproject.toml

The lock pins the runtime dependencies and the dev tools together (`uv pip compile
pyproject.toml --extra dev`). The container image needs only:

- `runtime`: the `[project].dependencies` of pyproject.toml and everything they pull in;
- `build`: the build backend (`[build-system].requires`, hatchling) and what it pulls in, to
  install the project with `--no-build-isolation` from the same lock (kept out of the image).

An entry belongs to a part when it is one of the part's roots, or when one of the packages its
`# via` comment names belongs to it. Safety does not rest on this script alone: pip's
`--require-hashes` refuses to install a dependency that is missing from the file it is given,
so a subset that left something out fails the image build instead of installing it unpinned.
Standard library only: it runs in the image's builder stage before anything is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_PROJECT = re.compile(r"^(.+?) \(pyproject\.toml\)$")


def normalize(name: str) -> str:
    """PEP 503 name normalization: `Foo_Bar.baz` and `foo-bar-baz` are the same package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Entry:
    name: str
    lines: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def parse_lock(text: str) -> list[Entry]:
    """The lock's entries in file order; `via` holds the normalized names of the requirers."""
    entries: list[Entry] = []
    in_via = False
    for line in text.splitlines():
        if not line.strip() or (line.startswith("#") and not entries):
            continue  # the header comment
        if not line[0].isspace():
            match = _NAME.match(line)
            if match is None:
                raise ValueError(f"unexpected line in the lock: {line!r}")
            entries.append(Entry(normalize(match[1]), [line]))
            in_via = False
            continue
        entry = entries[-1]
        entry.lines.append(line)
        comment = line.strip()
        if comment.startswith("# via"):
            rest = comment.removeprefix("# via").strip()
            in_via = not rest  # "# via" alone: the requirers follow, one per line
            if rest:
                entry.via.add(_requirer(rest))
        elif in_via and comment.startswith("#"):
            entry.via.add(_requirer(comment.lstrip("#").strip()))
    return entries


def _requirer(text: str) -> str:
    project = _PROJECT.match(text)
    return "<project>" if project else normalize(text.split(maxsplit=1)[0])


def requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = _NAME.match(requirement.strip())
        if match is None:
            raise ValueError(f"cannot read the requirement {requirement!r}")
        names.add(normalize(match[1]))
    return names


def closure(entries: list[Entry], roots: set[str]) -> set[str]:
    """The roots plus every entry required, directly or not, by something already in the set."""
    chosen = set(roots)
    changed = True
    while changed:
        changed = False
        for entry in entries:
            if entry.name not in chosen and entry.via & chosen:
                chosen.add(entry.name)
                changed = True
    return chosen


def roots(pyproject: dict[str, object], part: str) -> set[str]:
    if part == "runtime":
        project = pyproject["project"]
        assert isinstance(project, dict)
        return requirement_names(list(project["dependencies"]))
    if part == "build":
        build = pyproject["build-system"]
        assert isinstance(build, dict)
        return requirement_names(list(build["requires"]))
    raise ValueError(f"unknown part {part!r}: runtime or build")


def subset(lock_text: str, pyproject: dict[str, object], part: str) -> str:
    entries = parse_lock(lock_text)
    wanted = roots(pyproject, part)
    missing = wanted - {e.name for e in entries}
    if missing:
        raise ValueError(f"not in the lock: {', '.join(sorted(missing))}")
    chosen = closure(entries, wanted)
    kept = [line for e in entries if e.name in chosen for line in e.lines]
    return "\n".join(kept) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)  # noqa: T201 - a command-line tool
        return 2
    part, lock, pyproject = argv
    data = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))
    sys.stdout.write(subset(Path(lock).read_text(encoding="utf-8"), data, part))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
