"""What the open-network solver returns: one :class:`StationSolution` per station and the
:class:`OpenSolution` of the whole network."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.network import Network
from .mmc import MMcResponse
from .phase_type import PhaseType, fit_two_moments, zero
from .single_station import StationMetrics


@dataclass
class StationSolution:
    """Everything the result builder needs about one station."""

    metrics: StationMetrics | None
    method: str
    class_response: np.ndarray | None = None  # mean response per visit, per class
    note: str = ""
    response: PhaseType | MMcResponse | None = None  # response time per visit
    extra: dict = field(default_factory=dict)


@dataclass
class OpenSolution:
    network: Network
    class_rates: np.ndarray          # [C]
    visits: np.ndarray               # [C, n] per job of each class
    lam: np.ndarray                  # [C, n] offered arrival rate per class and station
    arrival_scv: np.ndarray          # [n]
    stations: list[StationSolution]
    offered: np.ndarray              # [n] offered load per server
    unstable: list[int]
    product_form: bool
    saturation_factor: float
    bottleneck: int | None
    branch_members: dict[int, set[int]]  # fork index -> stations inside its branches
    fork_times: dict[int, np.ndarray]     # fork index -> mean time fork to join, per class
    # fork index -> per class, the time from fork to join (None: the class never forks there)
    fork_laws: dict[int, list[PhaseType | None]] = field(default_factory=dict)


def zero_station(lam: float, wait: float = 0.0) -> StationMetrics:
    """A station that takes no time of its own but ``wait`` (a fork, a join's sync wait)."""
    return StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=0.0, busy_servers=0.0,
        mean_in_queue=lam * wait, mean_in_system=lam * wait, mean_wait=wait,
        mean_response=wait, p_wait=0.0, p_idle=1.0, p_loss=0.0,
        response=fit_two_moments(wait, 1.0) if wait > 0 else zero(), response_scv=None,
        departure_scv=None, method="exact")
