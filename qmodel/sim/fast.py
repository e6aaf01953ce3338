"""The fast path: a numba event-heap simulator for open networks of FCFS queues.

It fits open networks (any number of open classes, Poisson or any inter-arrival
distribution) of FCFS queues with ``c`` servers and delay stations, infinite capacity,
probabilistic routing with feedback, any service distribution. The kernel keeps every
piece of state in arrays, so it can stop and resume: it returns to Python when a buffer of
pre-drawn random numbers runs low (refilled with ``Distribution.sample``, so every
distribution works), when its job table is full (grown), and every million events (for
progress and Ctrl-C), and stops, partial, after ``max_events`` events (arrivals and
service completions: :mod:`.budget`). It records exactly what the simpy engine records (same counters,
checkpoints, samples and MSER series), so one summary serves both.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from ..distributions import Distribution, Exponential
from ..model.network import Network
from .fast_scope import unsupported as unsupported  # what it takes, without numba
from .record import CLASS_FIELDS, MAX_ROWS, STATION_FIELDS, Layout, Replication, Samples
from .stats import MAX_BATCHES, MSER_BATCH, SAMPLE_CAP
from .streams import Streams

BUFFER = 16384
LOW = 4  # refill a stream when fewer values than this are left
EVENTS_PER_CALL = 1 << 20
INF_SERVERS = 1 << 60  # math.inf servers, in the kernel's int64 array
FIRST_CHECKPOINT_EVERY = 64

# scalar slots
F_NOW, F_SYS_LAST, F_WARM, F_HORIZON, F_BATCH_TOTAL = range(5)
(I_HEAP, I_FREE, I_NFREE, I_TARGET, I_DONE, I_NEXT_CK, I_EVERY, I_NROWS, I_WARM_TAKEN,
 I_BATCH_COUNT, I_BATCH_SIZE, I_NMEANS, I_JOBS, I_NEED) = range(14)
DONE, REFILL, GROW, YIELD = range(4)

# counter offsets inside a station block / the system block (see record.py)
S_ARR, S_LOSS, S_COMP, S_RESP, S_WAIT, S_WAITED, S_AREA_N, S_AREA_B, S_IDLE, S_SEEN = range(10)
Y_COMP, Y_ARR, Y_LOSS, Y_RESP, Y_AREA, Y_SEEN = (1 + k for k in range(6))
C_COMP, C_RESP, C_SEEN = range(3)
SW = len(STATION_FIELDS)
CW = len(CLASS_FIELDS)


class FastRun:
    """One replication on the fast path (same interface as :class:`~.engine.Engine`)."""

    def __init__(self, network: Network, streams: Streams, *, customers: int | None,
                 horizon: float | None, warmup: float | None,
                 progress: Callable[[float], None] | None = None,
                 max_events: int | None = None):
        self.network = network
        self.progress = progress
        self.max_events = max_events
        K, S = len(network.classes), len(network.stations)
        self.K, self.S = K, S
        self.layout = Layout([s.name for s in network.stations], [c.name for c in network.classes])
        self.target = customers if customers is not None else np.iinfo(np.int64).max
        self.horizon = horizon
        # random streams: arrivals per class, service per (class, station), routing per
        # station, entry per class
        self.sources: list[tuple[Distribution | None, np.random.Generator]] = []
        for c in network.classes:
            self.sources.append((c.interarrival or Exponential(1.0 / c.rate),
                                 streams.generator("interarrival", c.name)))
        for c in network.classes:
            for s in network.stations:
                self.sources.append((s.service.get(c.name),
                                     streams.generator("service", s.name, c.name)))
        for s in network.stations:
            self.sources.append((None, streams.generator("route", s.name)))
        for c in network.classes:
            self.sources.append((None, streams.generator("entry", c.name)))
        self.buf = np.empty((len(self.sources), BUFFER))
        self.pos = np.zeros(len(self.sources), dtype=np.int64)
        for k in range(len(self.sources)):
            self.buf[k] = self._draw(k, BUFFER)
        self.rcum = np.zeros((K, S, S))
        self.rfix = np.zeros((K, S), dtype=np.int64)  # -1 exit, -2 random, else the target
        self.ecum = np.zeros((K, S))
        for k, c in enumerate(network.classes):
            for i in range(S):
                row = network.routing[c.name][i]
                self.rcum[k, i] = _cumulative(row)
                self.rfix[k, i] = _fixed(row)
            self.ecum[k] = _cumulative(network.entry[c.name])
        self.servers = np.array([s.servers if math.isfinite(s.servers) else INF_SERVERS
                                 for s in network.stations], dtype=np.int64)
        width = self.layout.width
        self.C = np.zeros(width)
        self.rows = np.zeros((MAX_ROWS + 2, width))
        self.warm = np.zeros(width)
        self.F = np.array([0.0, 0.0, math.inf if warmup is None else warmup,
                           math.inf if horizon is None else horizon, 0.0])
        self.I = np.zeros(14, dtype=np.int64)
        self.I[I_TARGET] = self.target
        self.I[I_EVERY] = FIRST_CHECKPOINT_EVERY
        self.I[I_NEXT_CK] = min(FIRST_CHECKPOINT_EVERY, self.target)
        self.I[I_NROWS] = 1  # row 0: all zeros at time 0
        self.I[I_BATCH_SIZE] = MSER_BATCH
        self.n = np.zeros(S, dtype=np.int64)
        self.busy = np.zeros(S, dtype=np.int64)
        self.last = np.zeros(S)
        self.qhead = np.full(S, -1, dtype=np.int64)
        self.qtail = np.full(S, -1, dtype=np.int64)
        self._jobs(1024)
        self.htime = np.zeros(1024 + K)
        self.hcode = np.zeros(1024 + K, dtype=np.int64)
        nkeys = 1 + S + K
        self.samp = np.zeros((nkeys, SAMPLE_CAP))
        self.slen = np.zeros(nkeys, dtype=np.int64)
        self.smask = np.zeros(nkeys, dtype=np.int64)
        self.means = np.zeros(MAX_BATCHES)
        for k in range(K):  # first arrival of each class
            _push(self.htime, self.hcode, self.I, self._take(k), -(k + 1))

    def _draw(self, k: int, size: int) -> np.ndarray:
        dist, rng = self.sources[k]
        if dist is None:
            return rng.random(size) if k >= self.K * (1 + self.S) else np.zeros(size)
        return np.asarray(dist.sample(rng, size), dtype=float).reshape(size)

    def _take(self, k: int) -> float:
        x = self.buf[k, self.pos[k]]
        self.pos[k] += 1
        return float(x)

    def _jobs(self, size: int) -> None:
        """(Re)allocate the job table to ``size`` slots; only called when none is free."""
        old = getattr(self, "jcls", None)
        first = 0 if old is None else len(old)
        fields = {"jcls": np.int64, "jst": np.int64, "jnext": np.int64, "jborn": float,
                  "jtarr": float, "jstart": float}
        for name, dtype in fields.items():
            new = np.zeros(size, dtype=dtype)
            if old is not None:
                new[:first] = getattr(self, name)
            setattr(self, name, new)
        self.jnext[first:size - 1] = np.arange(first + 1, size)  # chain the new free slots
        self.jnext[size - 1] = -1
        self.I[I_FREE] = first
        self.I[I_NFREE] = size - first

    def _grow(self) -> None:
        if self.I[I_NFREE] < 1:
            self._jobs(2 * len(self.jcls))
        if self.I[I_HEAP] + 2 > len(self.htime):
            for name in ("htime", "hcode"):
                arr = getattr(self, name)
                setattr(self, name, np.concatenate([arr, np.zeros_like(arr)]))

    def _refill(self) -> None:
        for k in np.nonzero(self.pos >= BUFFER - LOW)[0]:
            p = int(self.pos[k])
            self.buf[k] = np.concatenate([self.buf[k, p:], self._draw(int(k), p)])
            self.pos[k] = 0
        self.I[I_NEED] = 0

    def run(self) -> Replication:
        L = self.layout
        while True:
            left = EVENTS_PER_CALL if self.max_events is None else \
                min(EVENTS_PER_CALL, self.max_events - self.events())
            if left <= 0:
                return self.record(partial=True, out_of_events=True)
            status = _kernel(self.F, self.I, self.C, self.rows, self.warm, self.servers,
                             self.n, self.busy, self.last, self.qhead, self.qtail, self.jcls,
                             self.jst, self.jnext, self.jborn, self.jtarr, self.jstart,
                             self.htime, self.hcode, self.buf, self.pos, self.rcum, self.rfix,
                             self.ecum, self.samp, self.slen, self.smask, self.means,
                             L.station0, L.class0, self.K, self.S, left)
            if status == DONE:
                return self.record()
            if status == REFILL:
                self._refill()
            elif status == GROW:
                self._grow()
            if self.progress is not None:
                self.progress(self._fraction())

    def _fraction(self) -> float:
        parts = [self.I[I_DONE] / self.target]
        if self.horizon is not None:
            parts.append(self.F[F_NOW] / self.horizon)
        return float(min(1.0, max(parts)))

    def events(self) -> int:
        """Events processed so far: arrivals and service completions."""
        first = self.layout.station0 + S_COMP
        return int(self.C[Y_ARR] + self.C[first:first + SW * self.S:SW].sum())

    def record(self, partial: bool = False, out_of_events: bool = False) -> Replication:
        final = _final_row(self.F.copy(), self.C, self.n, self.busy, self.last, self.I,
                           self.layout.station0, self.S)
        nrows = int(self.I[I_NROWS])
        samples = [Samples(self.samp[k, :self.slen[k]].copy(), int(self.smask[k]) + 1)
                   for k in range(len(self.slen))]
        return Replication(
            rows=self.rows[:nrows].copy(), final=final,
            warm=self.warm.copy() if self.I[I_WARM_TAKEN] else None,
            batch_means=self.means[:self.I[I_NMEANS]].copy(),
            batch_size=int(self.I[I_BATCH_SIZE]), samples=samples, partial=partial,
            out_of_events=out_of_events)


def _cumulative(row: np.ndarray) -> np.ndarray:
    cum = np.cumsum(row)
    if cum[-1] >= 1 - 1e-9:
        cum[np.argmax(cum >= 1 - 1e-9):] = 2.0  # never exit from a row that sums to 1
    return cum


def _fixed(row: np.ndarray) -> int:
    """The one target a routing row always picks (-1: always exit), or -2 when random."""
    if row.sum() < 1e-12:
        return -1
    top = int(np.argmax(row))
    return top if row[top] >= 1 - 1e-9 else -2


def _final_row(F, C, n, busy, last, I, st0, S) -> np.ndarray:
    C = C.copy()
    now = F[F_NOW]
    _flush(now, F, C, n, busy, last.copy(), I, st0, S)
    C[0] = now
    return C


# --------------------------------------------------------------------------------- kernel
@njit(cache=True)
def _push(htime, hcode, I, t, code):
    i = I[I_HEAP]
    I[I_HEAP] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if htime[parent] <= t:
            break
        htime[i] = htime[parent]
        hcode[i] = hcode[parent]
        i = parent
    htime[i] = t
    hcode[i] = code


@njit(cache=True)
def _pop(htime, hcode, I):
    t0 = htime[0]
    c0 = hcode[0]
    size = I[I_HEAP] - 1
    I[I_HEAP] = size
    if size > 0:
        t = htime[size]
        code = hcode[size]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= size:
                break
            if child + 1 < size and htime[child + 1] < htime[child]:
                child += 1
            if htime[child] >= t:
                break
            htime[i] = htime[child]
            hcode[i] = hcode[child]
            i = child
        htime[i] = t
        hcode[i] = code
    return t0, c0


@njit(cache=True, inline="always")
def _take(buf, pos, I, k):
    p = pos[k]
    pos[k] = p + 1
    if p + 1 >= BUFFER - LOW:
        I[I_NEED] = 1
    return buf[k, p]


@njit(cache=True, inline="always")
def _sample(samp, slen, smask, C, seen_col, key, x):
    i = np.int64(C[seen_col])
    C[seen_col] = i + 1
    if i & smask[key] == 0:
        n = slen[key]
        samp[key, n] = x
        n += 1
        if n >= SAMPLE_CAP:
            for k in range(n // 2):
                samp[key, k] = samp[key, 2 * k]
            n = n // 2
            smask[key] = 2 * smask[key] + 1
        slen[key] = n


@njit(cache=True)
def _flush(t, F, C, n, busy, last, I, st0, S):
    for i in range(S):
        dt = t - last[i]
        if dt > 0:
            b = st0 + SW * i
            C[b + S_AREA_N] += n[i] * dt
            C[b + S_AREA_B] += busy[i] * dt
            if busy[i] == 0:
                C[b + S_IDLE] += dt
            last[i] = t
    C[Y_AREA] += I[I_JOBS] * (t - F[F_SYS_LAST])
    F[F_SYS_LAST] = t


@njit(cache=True)
def _arrive(j, i, now, C, servers, n, busy, last, qhead, qtail, jcls, jst, jnext, jtarr,
            jstart, htime, hcode, buf, pos, I, st0, K, S):
    b = st0 + SW * i
    dt = now - last[i]
    if dt > 0:
        C[b + S_AREA_N] += n[i] * dt
        C[b + S_AREA_B] += busy[i] * dt
        if busy[i] == 0:
            C[b + S_IDLE] += dt
        last[i] = now
    C[b + S_ARR] += 1
    n[i] += 1
    jtarr[j] = now
    jst[j] = i
    if busy[i] < servers[i]:
        busy[i] += 1
        jstart[j] = now
        _push(htime, hcode, I, now + _take(buf, pos, I, K + jcls[j] * S + i), j)
    else:
        C[b + S_WAITED] += 1
        jnext[j] = -1
        if qtail[i] >= 0:
            jnext[qtail[i]] = j
        else:
            qhead[i] = j
        qtail[i] = j


@njit(cache=True)
def _checkpoint(F, I, C, rows, n, busy, last, st0, S):
    _flush(F[F_NOW], F, C, n, busy, last, I, st0, S)
    r = I[I_NROWS]
    rows[r, 0] = F[F_NOW]
    rows[r, 1:] = C[1:]
    r += 1
    every = I[I_EVERY]
    if r > MAX_ROWS:
        half = (r + 1) // 2
        for k in range(half):
            rows[k] = rows[2 * k]
        r = half
        every *= 2
        I[I_EVERY] = every
    I[I_NROWS] = r
    done = I[I_DONE]
    I[I_NEXT_CK] = min(done - done % every + every, I[I_TARGET])


@njit(cache=True)
def _kernel(F, I, C, rows, warm, servers, n, busy, last, qhead, qtail, jcls, jst, jnext,
            jborn, jtarr, jstart, htime, hcode, buf, pos, rcum, rfix, ecum, samp, slen, smask,
            means, st0, cl0, K, S, max_events):
    route0 = K + K * S
    entry0 = route0 + S
    events = 0
    while True:
        if I[I_DONE] >= I[I_TARGET] or I[I_HEAP] == 0:
            return DONE
        if I[I_NFREE] < 1 or I[I_HEAP] + 2 > len(htime):
            return GROW
        if events >= max_events:
            return YIELD
        t = htime[0]
        if t > F[F_HORIZON]:
            F[F_NOW] = F[F_HORIZON]
            _flush(F[F_NOW], F, C, n, busy, last, I, st0, S)
            I[I_TARGET] = I[I_DONE]
            return DONE
        if I[I_WARM_TAKEN] == 0 and t >= F[F_WARM]:
            _flush(F[F_WARM], F, C, n, busy, last, I, st0, S)
            warm[0] = F[F_WARM]
            warm[1:] = C[1:]
            I[I_WARM_TAKEN] = 1
        t, code = _pop(htime, hcode, I)
        F[F_NOW] = t
        events += 1
        if code < 0:  # arrival of class k
            k = -code - 1
            j = I[I_FREE]
            I[I_FREE] = jnext[j]
            I[I_NFREE] -= 1
            jcls[j] = k
            jborn[j] = t
            C[Y_AREA] += I[I_JOBS] * (t - F[F_SYS_LAST])
            F[F_SYS_LAST] = t
            I[I_JOBS] += 1
            C[Y_ARR] += 1
            _push(htime, hcode, I, t + _take(buf, pos, I, k), code)
            u = _take(buf, pos, I, entry0 + k)
            target = np.searchsorted(ecum[k], u, side="right")  # binary: any network size
            _arrive(j, target, t, C, servers, n, busy, last, qhead, qtail, jcls, jst, jnext,
                    jtarr, jstart, htime, hcode, buf, pos, I, st0, K, S)
        else:  # departure of job j from station i
            j = code
            i = jst[j]
            k = jcls[j]
            b = st0 + SW * i
            dt = t - last[i]
            if dt > 0:
                C[b + S_AREA_N] += n[i] * dt
                C[b + S_AREA_B] += busy[i] * dt
                last[i] = t
            n[i] -= 1
            r = t - jtarr[j]
            C[b + S_COMP] += 1
            C[b + S_RESP] += r
            C[b + S_WAIT] += jstart[j] - jtarr[j]
            _sample(samp, slen, smask, C, b + S_SEEN, 1 + i, r)
            h = qhead[i]
            if h >= 0:
                qhead[i] = jnext[h]
                if qhead[i] < 0:
                    qtail[i] = -1
                jstart[h] = t
                _push(htime, hcode, I, t + _take(buf, pos, I, K + jcls[h] * S + i), h)
            else:
                busy[i] -= 1
            target = rfix[k, i]
            if target == -1:
                target = S
            elif target == -2:
                u = _take(buf, pos, I, route0 + i)
                target = np.searchsorted(rcum[k, i], u, side="right")  # S: leaves
            if target < S:
                _arrive(j, target, t, C, servers, n, busy, last, qhead, qtail, jcls, jst,
                        jnext, jtarr, jstart, htime, hcode, buf, pos, I, st0, K, S)
            else:  # leaves the system
                C[Y_AREA] += I[I_JOBS] * (t - F[F_SYS_LAST])
                F[F_SYS_LAST] = t
                I[I_JOBS] -= 1
                r = t - jborn[j]
                I[I_DONE] += 1
                C[Y_COMP] += 1
                C[Y_RESP] += r
                _sample(samp, slen, smask, C, Y_SEEN, 0, r)
                cb = cl0 + CW * k
                C[cb + C_COMP] += 1
                C[cb + C_RESP] += r
                _sample(samp, slen, smask, C, cb + C_SEEN, 1 + S + k, r)
                F[F_BATCH_TOTAL] += r
                I[I_BATCH_COUNT] += 1
                if I[I_BATCH_COUNT] == I[I_BATCH_SIZE]:
                    nm = I[I_NMEANS]
                    means[nm] = F[F_BATCH_TOTAL] / I[I_BATCH_SIZE]
                    nm += 1
                    F[F_BATCH_TOTAL] = 0.0
                    I[I_BATCH_COUNT] = 0
                    if nm >= MAX_BATCHES:
                        for q in range(nm // 2):
                            means[q] = (means[2 * q] + means[2 * q + 1]) / 2
                        nm = nm // 2
                        I[I_BATCH_SIZE] *= 2
                    I[I_NMEANS] = nm
                jnext[j] = I[I_FREE]
                I[I_FREE] = j
                I[I_NFREE] += 1
                if I[I_DONE] >= I[I_NEXT_CK]:
                    _checkpoint(F, I, C, rows, n, busy, last, st0, S)
        if I[I_NEED]:
            return REFILL
