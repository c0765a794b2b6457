"""The rules in force, swapped atomically on reload; a bad new file keeps the old rules."""

from __future__ import annotations

from pathlib import Path

import structlog

from consumers.rules.engine import RuleSet
from consumers.rules.loader import load_rules
from worker.errors import RulesError

log = structlog.get_logger(__name__)


class RulesHolder:
    def __init__(self, path: Path, ruleset: RuleSet) -> None:
        self.path = path
        self.current = ruleset
        self.generation = 1

    @classmethod
    def load(cls, path: Path) -> RulesHolder:
        """Load at start; raises RulesError (every problem with file:line) on a bad file."""
        ruleset = load_rules(path)
        log.info(
            "rules.loaded", file=str(path), rules=len(ruleset.rules), warnings=len(ruleset.warnings)
        )
        return cls(path, ruleset)

    def reload(self) -> bool:
        """Load the file again; on success swap it in (one assignment: atomic for handlers)."""
        try:
            ruleset = load_rules(self.path)
        except (RulesError, OSError) as exc:
            problems = getattr(exc, "problems", [str(exc)])
            log.error(
                "rules.reload_failed",
                file=str(self.path),
                problems=problems,
                detail="the previous rules stay in force",
            )
            return False
        self.current = ruleset
        self.generation += 1
        log.info(
            "rules.reloaded",
            file=str(self.path),
            rules=len(ruleset.rules),
            generation=self.generation,
        )
        return True
