"""What an import or export did with each part of a model: mapped, approximated, refused.

Nothing that fails to map is dropped silently: every part that has no exact equivalent on
the other side is named here with the nearest equivalent used (``approximated``) or
with why it was left out (``refused``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["mapped", "approximated", "refused"]


@dataclass(frozen=True)
class Mapping:
    """One part of a model and what became of it (``item`` names it as its side does)."""

    item: str
    status: Status
    note: str = ""

    def __str__(self) -> str:
        return f"{self.status:<12} {self.item}" + (f": {self.note}" if self.note else "")


@dataclass(frozen=True)
class StoredSolution:
    """A solution stored in a JMT file (a JMVA solution, or a JSIMgraph archive's
    simulation results): ``values[station][class][measure]`` as JMT wrote them (measures
    such as ``Number of Customers``, ``Throughput``, ``Utilization``; times in seconds;
    class ``""`` for all classes)."""

    method: str
    values: dict[str, dict[str, dict[str, float]]]


@dataclass
class MappingReport:
    """The mapping of one import (``source`` a JMT file) or export (``target`` one).

    >>> r = MappingReport("model.yaml", "model.jsimg")
    >>> r.add("node 'db'", "mapped", "queue")
    >>> r.add("node 'batch'", "refused", "no JMT equivalent")
    >>> r.exact, [m.item for m in r.refused]
    (False, ["node 'batch'"])
    """

    source: str
    target: str
    entries: list[Mapping] = field(default_factory=list)
    solutions: list[StoredSolution] = field(default_factory=list)

    def add(self, item: str, status: Status, note: str = "") -> None:
        self.entries.append(Mapping(item, status, note))

    def _with(self, status: Status) -> list[Mapping]:
        return [m for m in self.entries if m.status == status]

    @property
    def mapped(self) -> list[Mapping]:
        return self._with("mapped")

    @property
    def approximated(self) -> list[Mapping]:
        return self._with("approximated")

    @property
    def refused(self) -> list[Mapping]:
        return self._with("refused")

    @property
    def exact(self) -> bool:
        """True when every part mapped as it is (nothing approximated or refused)."""
        return not self.approximated and not self.refused

    def lines(self) -> list[str]:
        """One line per part, the ones that did not map exactly first."""
        order = {"refused": 0, "approximated": 1, "mapped": 2}
        return [str(m) for m in sorted(self.entries, key=lambda m: order[m.status])]

    def summary(self) -> str:
        return (f"{self.source} -> {self.target}: {len(self.mapped)} mapped, "
                f"{len(self.approximated)} approximated, {len(self.refused)} refused")

    def __str__(self) -> str:
        return "\n".join([self.summary(), *self.lines()])
