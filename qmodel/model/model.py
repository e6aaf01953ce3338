"""The :class:`Model`: a checked model file, its network and its component graph."""

from __future__ import annotations

import copy
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import ModelError
from .calibration import intervals
from .check import check
from .fields import set_path
from .network import Network, build_network
from .parse import read_file, read_yaml, validate_spec
from .spec import ForkNode, ModelSpec

if TYPE_CHECKING:
    import networkx as nx


class Model:
    """A validated model. Build it with :func:`load`, :meth:`from_dict` or :meth:`from_yaml`.

    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "servers": 2,
    ...                      "service": "20ms"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    >>> m.network.station("app").servers, round(m.network.classes[0].rate)
    (2, 50)
    """

    def __init__(self, spec: ModelSpec, data: dict, base_dir: Path | None = None,
                 source: str | None = None):
        self.spec = spec
        self._data = data
        self.base_dir = base_dir
        self.source = source

    @classmethod
    def from_dict(cls, data: Any, base_dir: str | Path | None = None,
                  source: str | None = None) -> Model:
        """Validate a model document (a dict as read from YAML); raise :class:`ModelError`."""
        base = Path(base_dir) if base_dir is not None else None
        spec = validate_spec(data, base)
        problems = check(spec)
        if problems:
            raise ModelError(problems)
        model = cls(spec, _copy_document(data), base, source)
        if spec.calibration is not None:
            intervals(model)  # every calibrated path is a parameter of this model
        return model

    @classmethod
    def from_yaml(cls, text: str, base_dir: str | Path | None = None) -> Model:
        """Parse and validate YAML text."""
        return cls.from_dict(read_yaml(text), base_dir)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def time_unit(self) -> str:
        return self.spec.time_unit

    @cached_property
    def network(self) -> Network:
        """Stations, classes and routing: what solvers and the simulator see."""
        return build_network(self.spec)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """Component graph: one node per model node (with ``kind``), edges with ``p``."""
        import networkx as nx  # only for the graph: keeps ``import qmodel`` light

        graph = nx.DiGraph(name=self.name)
        for name, node in self.spec.nodes.items():
            graph.add_node(name, kind=node.kind, label=node.label or name)
        for name, node in self.spec.nodes.items():
            if isinstance(node, ForkNode):
                for branch in node.branches or []:
                    graph.add_edge(name, branch, p=1.0, fork=True)
                if not node.branches:
                    graph.add_edge(name, node.join, p=1.0, fork=True)
                continue
            for target, p in node.next.items():
                graph.add_edge(name, target, p=p)
            for cls, route in node.class_next.items():
                for target, p in route.items():
                    if not graph.has_edge(name, target):
                        graph.add_edge(name, target, p=p, classes=[cls])
        return graph

    def to_dict(self) -> dict:
        """The model document as written (units kept), safe to modify."""
        return _copy_document(self._data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self._data, sort_keys=False)

    def with_changes(self, changes: dict[str, Any]) -> Model:
        """A new model with values set at dotted paths, e.g. ``{"nodes.app.servers": 4}``.

        A path that names a missing node, class or field raises :class:`ModelError` at
        the part at fault, with the closest name (see :func:`~qmodel.model.fields.set_path`).
        """
        data = self.to_dict()
        for path, value in changes.items():
            set_path(data, path, value)
        return Model.from_dict(data, self.base_dir, self.source)

    def __repr__(self) -> str:
        return f"Model({self.name!r}, nodes={list(self.spec.nodes)})"


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_document(value: Any) -> Any:
    """A deep copy of a model document: plain mappings, lists and scalars are copied
    directly (much faster than ``copy.deepcopy``), anything else with ``deepcopy``."""
    if isinstance(value, dict):
        return {key: _copy_document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_document(item) for item in value]
    if type(value) in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


def load(path: str | Path) -> Model:
    """Load and validate a model file.

    >>> model = load("topologies/web_service.yaml")  # doctest: +SKIP
    """
    path = Path(path)
    return Model.from_dict(read_file(path), path.parent, str(path))
