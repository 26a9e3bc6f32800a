"""Overload: the service under a steady load, then a burst far above its capacity.

Usage: python bench/bench_overload.py --model DIR --data FILE [--steady-seconds 60]
[--steady-rate R] [--burst-clients 200] [--burst-seconds 15] [--parcels 1] [--workers 1]
[--history 5000] [--honor-retry-after] [--root CHECKOUT | --url URL [--audit-url URL]
[--pid PID] [--api-key KEY]]

Starts `bentoml serve` on a free 127.0.0.1 port with the model, an API key and a new
audit store holding the first ``--history`` parcels of the data's last 14 days (as
bench/bench_serve.py does; ``--root`` serves the code of another checkout with its own
``.venv``, ``--url`` targets a service already running instead), warms it up, then
measures, every phase bounded in time and in count:

1. capacity: one client, closed loop, ``--capacity-seconds`` (req/s, p50 / p99): the
   reference every ratio is taken against;
2. steady: open loop at ``--steady-rate`` requests/s (default 60 % of that capacity) for
   ``--steady-seconds``; latency counted from the time a request was due, so a client
   that falls behind shows (its send lag is printed too);
3. burst: ``--burst-clients`` closed-loop clients for ``--burst-seconds``, each on a
   connection of its own with a ``--client-timeout``: status codes (200, 503 with or
   without ``Retry-After``, 504, others, client timeouts and errors), p50 / p99 of the
   answers (200) and of the refusals apart, the commonest refusal messages; clients send
   again at once unless ``--honor-retry-after``;
4. a cool-down of ``--cooldown-seconds`` (default 70: BentoML keeps each request's
   context until its 60 s timeout timer fires, so memory measured sooner still holds
   the burst's requests; docs/operations.md), then the steady rate again for
   ``--recovery-seconds``: latency back to normal or not;
5. the resident memory (RSS, MiB) of the server's processes (BentoML's worker is a
   child of ``bentoml serve``) before the steady phase, after it, after the burst and
   after the cool-down (``--bursts N``: N bursts, each with its cool-down, to tell memory
   that keeps growing from a high-water mark);
6. the audit store: every request carries parcel ids of its own, so the parcels logged
   can be set against the parcels answered 200; decisions logged but never acknowledged
   (answered 503 / 504, or timed out on the client) and acknowledged but not logged are
   counted (``--audit-url`` with ``--url``);
7. the server's own time per request: each request carries a W3C ``traceparent`` whose
   trace id BentoML's access log prints with the request's latency, so client-side and
   server-side p50 / p99 can be set side by side (the difference: time on the connection
   and in the client's own event loop).

Prints figures and their ratios to the capacity measured in the same run; asserts no
timing. The clients run in this process on the same machine as the server, so a burst's
client work takes CPU from the server too: the CPU each side used per phase and the load
average at start and end are printed with the figures. The default run takes about 2.5
minutes on 2 cores, the start-up included.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import re
import secrets
import ssl
import subprocess
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from bench_serve import _log, _p, start_service

from parcelrisk.artifact import load_model
from parcelrisk.audit import AuditStore
from parcelrisk.contract import read_declarations
from parcelrisk.split import split_by_time
from parcelrisk.tracking import example_input

API_KEY_HEADER = "X-API-Key"
#: A line of BentoML's access log for /score: its latency and trace id.
ACCESS_LINE = re.compile(
    r"path=/score\b.*?\(status=\d+.*?\) (?P<ms>[\d.]+)ms \(trace=(?P<trace>[0-9a-f]{32})"
)
MIB = 2**20


@dataclass
class Sent:
    """One request: its parcels, what came back and how long it took."""

    parcel_ids: list[str]
    outcome: str  # an HTTP status ("200", "503", ...), "timeout" or "error:<kind>"
    ms: float
    retry_after: bool = False
    lag_ms: float = 0.0  # open loop: how late the request left after it was due
    trace: str = ""  # its W3C trace id: the server's access log names it
    reason: str = ""  # a refusal's "error", its numbers as N


@dataclass
class Phase:
    name: str
    sent: list[Sent] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu: float = math.nan  # CPU seconds of this process (the clients) in the phase
    server_cpu: float = math.nan  # CPU seconds of the server's processes in the phase

    def ms(self, *outcomes: str) -> np.ndarray:
        return np.array([s.ms for s in self.sent if s.outcome in outcomes])

    def count(self, outcome: str) -> int:
        return sum(s.outcome == outcome for s in self.sent)

    @property
    def refused_with_retry_after(self) -> int:
        return sum(s.outcome == "503" and s.retry_after for s in self.sent)

    @property
    def ok_per_s(self) -> float:
        return self.count("200") / self.seconds if self.seconds else math.nan


class Traffic:
    """Requests of ``parcels`` parcels each, every parcel id new (``prefix-n``), the
    declarations taken in turn from ``records``."""

    def __init__(self, base: str, api_key: str | None, records: list[dict], parcels: int):
        self.base, self.records, self.parcels = base, records, parcels
        self.headers = {API_KEY_HEADER: api_key} if api_key else {}
        self.prefix = f"ov{secrets.token_hex(3)}"
        self.n = 0

    def payload(self) -> tuple[list[str], dict]:
        parcels = []
        for _ in range(self.parcels):
            record = self.records[self.n % len(self.records)]
            parcels.append({**record, "parcel_id": f"{self.prefix}-{self.n}"})
            self.n += 1
        return [p["parcel_id"] for p in parcels], {"parcels": parcels}

    async def send(self, client: httpx.AsyncClient, phase: Phase, due: float | None = None):
        """One /score request, recorded in ``phase``; latency from ``due`` if given."""
        ids, body = self.payload()
        trace = secrets.token_hex(16)
        headers = {**self.headers, "traceparent": f"00-{trace}-{secrets.token_hex(8)}-00"}
        t0 = time.perf_counter()
        start = t0 if due is None else due
        try:
            r = await client.post(f"{self.base}/score", json=body, headers=headers)
            sent = Sent(ids, str(r.status_code), 0.0, "retry-after" in r.headers)
            if r.status_code != 200:
                sent.reason = _reason(r)
        except httpx.TimeoutException:
            sent = Sent(ids, "timeout", 0.0)
        except httpx.HTTPError as err:
            sent = Sent(ids, f"error:{type(err).__name__}", 0.0)
        sent.trace = trace
        sent.ms = (time.perf_counter() - start) * 1e3
        sent.lag_ms = (t0 - start) * 1e3
        phase.sent.append(sent)
        return sent


def _reason(r: httpx.Response) -> str:
    try:
        error = r.json().get("error", "")
    except (ValueError, AttributeError):
        error = r.text
    return re.sub(r"\d+", "N", str(error))[:90]


def _client(connections: int, timeout: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10), limits=limits,
                             verify=_tls_context())  # fmt: skip


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client (the traffic is plain HTTP): httpx makes one per
    client otherwise, some 20 ms of CPU each."""
    return ssl.create_default_context()


async def _cpu_counted(phase_run, pid: int | None) -> Phase:
    """Run a phase; count the CPU its clients (this process) and the server used."""
    client, server = time.process_time(), server_cpu(pid)
    phase = await phase_run
    phase.client_cpu = time.process_time() - client
    phase.server_cpu = server_cpu(pid) - server
    return phase


async def _closed_loop(
    traffic: Traffic, name: str, clients: int, seconds: float, timeout: float,
    honor_retry_after: bool = False,
) -> Phase:  # fmt: skip
    """``clients`` clients, each with a connection of its own and sending its next request
    when the last is answered, until ``seconds`` have passed (then the requests in flight
    are waited for, at most ``timeout`` each); at most 2,000 requests a second per client.
    (One connection pool shared by hundreds of clients costs the client several times the
    CPU per request.)"""
    phase = Phase(name)

    async def one_client(client: httpx.AsyncClient) -> None:
        for _ in range(int(seconds * 2000) + 1):
            if time.perf_counter() >= end:
                return
            sent = await traffic.send(client, phase)
            if honor_retry_after and sent.retry_after:
                await asyncio.sleep(min(1.0, end - time.perf_counter()))

    connections = [_client(1, timeout) for _ in range(clients)]
    t0 = time.perf_counter()
    end = t0 + seconds
    await asyncio.gather(*(one_client(c) for c in connections))
    phase.seconds = time.perf_counter() - t0
    await asyncio.gather(*(c.aclose() for c in connections))
    return phase


async def _open_loop(
    traffic: Traffic, name: str, rate: float, seconds: float, timeout: float,
    max_in_flight: int = 256,
) -> Phase:  # fmt: skip
    """``rate`` requests a second for ``seconds``, each due at its own time whatever the
    earlier ones became (at most ``max_in_flight`` open connections; a request waiting for
    one counts as late)."""
    phase = Phase(name)
    n = max(1, round(rate * seconds))
    slots = asyncio.Semaphore(max_in_flight)

    async def due_at(client: httpx.AsyncClient, due: float) -> None:
        async with slots:
            await traffic.send(client, phase, due)

    async with _client(max_in_flight, timeout) as client:
        t0 = time.perf_counter()
        tasks = []
        for i in range(n):
            due = t0 + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(due_at(client, due)))
        await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - t0
    return phase


def server_processes(pid: int | None) -> list[tuple[str, float, float]]:
    """("pid role", RSS in MiB, CPU seconds used so far) of ``pid`` and its descendants:
    by psutil if it is installed, else from /proc."""
    if pid is None:
        return []
    try:
        import psutil
    except ImportError:
        return [(f"{p} {_role(_proc_cmdline(p))}", *_proc_figures(p)) for p in _proc_tree(pid)]
    root, found = psutil.Process(pid), []
    for p in [root, *root.children(recursive=True)]:
        try:
            with p.oneshot():
                cpu = p.cpu_times()
                found.append((f"{p.pid} {_role(p.cmdline())}", p.memory_info().rss / MIB,
                              cpu.user + cpu.system))  # fmt: skip
        except psutil.NoSuchProcess:
            continue
    return found


def server_memory(pid: int | None) -> dict[str, float]:
    return {name: rss for name, rss, _ in server_processes(pid)}


def server_cpu(pid: int | None) -> float:
    return sum(cpu for *_, cpu in server_processes(pid)) if pid is not None else math.nan


def _role(cmdline: list[str]) -> str:
    line = " ".join(cmdline)
    if "--worker-id" in line:
        return "worker"
    if " serve " in f" {line} ":
        return "bentoml serve"
    return os.path.basename(cmdline[0]) if cmdline else "?"


def _proc_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from the parent ids in /proc/*/stat."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree = [pid]
    for p in tree:  # grows while it is walked: breadth first
        tree.extend(c for c, parent in parents.items() if parent == p)
    return tree


def _proc_cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _proc_figures(pid: int) -> tuple[float, float]:
    """RSS in MiB (VmRSS) and CPU seconds (user and system) of ``pid``."""
    rss = math.nan
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _q(ms: np.ndarray, q: float) -> float:
    return _p(ms, q) if len(ms) else math.nan


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and not (math.isnan(a) or math.isnan(b)) else "-"


def print_phases(phases: list[Phase], capacity: Phase) -> None:
    cap_rate, cap_p50, cap_p99 = (
        capacity.ok_per_s,
        _q(capacity.ms("200"), 50),
        _q(capacity.ms("200"), 99),
    )
    print(
        f"\n{'phase':<10}{'sent':>7}{'200':>7}{'503':>7}{'+RA':>7}{'504':>5}{'other':>6}"
        f"{'t/o':>5}{'err':>5}{'200/s':>8}{'x cap':>6}{'p50 200':>9}{'p99 200':>9}"
        f"{'x cap':>13}{'p50 503':>9}{'p99 503':>9}{'lag p99':>8}{'cores':>11}"
    )
    for ph in phases:
        codes = Counter(s.outcome for s in ph.sent)
        other = sum(n for k, n in codes.items() if k.isdigit() and k not in ("200", "503", "504"))
        errors = sum(n for k, n in codes.items() if k.startswith("error:"))
        ok, ref = ph.ms("200"), ph.ms("503")
        lag = np.array([s.lag_ms for s in ph.sent])
        print(
            f"{ph.name:<10}{len(ph.sent):>7}{codes['200']:>7}{codes['503']:>7}"
            f"{ph.refused_with_retry_after:>7}{codes['504']:>5}{other:>6}{codes['timeout']:>5}"
            f"{errors:>5}{ph.ok_per_s:>8.1f}{_ratio(ph.ok_per_s, cap_rate):>6}"
            f"{_q(ok, 50):>9.1f}{_q(ok, 99):>9.1f}"
            f"{_ratio(_q(ok, 50), cap_p50):>7}/{_ratio(_q(ok, 99), cap_p99):>6}"
            f"{_q(ref, 50):>9.1f}{_q(ref, 99):>9.1f}{_q(lag, 99):>8.1f}"
            f"{ph.client_cpu / ph.seconds:>6.2f}/{ph.server_cpu / ph.seconds:.2f}"
        )
    for ph in phases:
        unusual = {k: n for k, n in Counter(s.outcome for s in ph.sent).items()
                   if k not in ("200", "503", "504", "timeout")}  # fmt: skip
        if unusual:
            print(f"  {ph.name}: other outcomes {dict(sorted(unusual.items()))}")
        for (code, reason), n in Counter((s.outcome, s.reason) for s in ph.sent
                                         if s.reason).most_common(3):  # fmt: skip
            print(f"  {ph.name}: {n} x {code} {reason!r}")
    print(
        "  ms; 200/s = answers 200 per second of the phase (in-flight requests waited for); "
        "x cap = ratio to the capacity phase (200/s; p50/p99); +RA = 503 with Retry-After; "
        "t/o = client timeouts; lag = open loop's send delay after the due time; cores = CPU "
        "seconds per second of the phase, clients (this process) / server (all its processes)"
    )


def server_ms(log_text: str) -> dict[str, float]:
    """Milliseconds the server took per /score request, by trace id: its access log's
    latency (from the request reaching the ASGI app to the answer; the time a request
    waited to be read off its connection is not in it)."""
    found = {}
    for match in ACCESS_LINE.finditer(log_text):
        found[match["trace"]] = float(match["ms"])
    return found


def print_server_side(phases: list[Phase], served: dict[str, float]) -> None:
    print(
        f"\n{'server side':<12}{'found':>7}{'p50 200':>9}{'p99 200':>9}{'p50 503':>9}"
        f"{'p99 503':>9}  client p50 less server p50: 200, 503"
    )
    for ph in phases:
        server = {k: _server_ms(ph, k, served) for k in ("200", "503")}
        gaps = [_q(ph.ms(k), 50) - _q(server[k], 50) for k in ("200", "503")]
        print(
            f"{ph.name:<12}{sum(s.trace in served for s in ph.sent):>7}"
            f"{_q(server['200'], 50):>9.1f}{_q(server['200'], 99):>9.1f}"
            f"{_q(server['503'], 50):>9.1f}{_q(server['503'], 99):>9.1f}"
            f"{gaps[0]:>13.1f}{gaps[1]:>7.1f}"
        )
    print(
        "  ms in the server's access log (from the request reaching the service's app to its "
        "answer), matched by trace id; found = requests of the phase in the log"
    )


def _server_ms(phase: Phase, outcome: str, served: dict[str, float]) -> np.ndarray:
    return np.array([served[s.trace] for s in phase.sent
                     if s.outcome == outcome and s.trace in served])  # fmt: skip


def print_ratios(phases: list[Phase], memory: list[tuple[str, dict[str, float]]]) -> None:
    """The run's figures against its own references: the capacity phase (one client) and
    the steady phase."""
    capacity, steady, burst, recovery = phases[1], phases[2], phases[3], phases[-1]
    cap50, cap99 = _q(capacity.ms("200"), 50), _q(capacity.ms("200"), 99)
    st50, st99 = _q(steady.ms("200"), 50), _q(steady.ms("200"), 99)
    refused = burst.ms("503")
    totals = [sum(mem.values()) for _, mem in memory]
    print("\nratios (same run)")
    print(f"  steady 200/s / capacity                 {steady.ok_per_s / capacity.ok_per_s:.2f}")
    print(f"  burst 200/s / capacity                  {_ratio(burst.ok_per_s, capacity.ok_per_s)}")
    print(f"  burst p50 / p99 of 200 / capacity's     {_ratio(_q(burst.ms('200'), 50), cap50)} / "
          f"{_ratio(_q(burst.ms('200'), 99), cap99)}")  # fmt: skip
    print(f"  burst p50 / p99 of 503 / capacity's     {_ratio(_q(refused, 50), cap50)} / "
          f"{_ratio(_q(refused, 99), cap99)}")  # fmt: skip
    print(
        f"  burst share answered 200                {_ratio(burst.count('200'), len(burst.sent))}"
    )
    print(f"  recovery p50 / p99 / steady's           {_ratio(_q(recovery.ms('200'), 50), st50)} / "
          f"{_ratio(_q(recovery.ms('200'), 99), st99)}")  # fmt: skip
    if len(totals) >= 4 and totals[1]:
        print(f"  RSS after burst / after steady          {_ratio(totals[2], totals[1])}")
        print(f"  RSS after cool-down / after steady      {_ratio(totals[3], totals[1])} "
              f"({totals[3] - totals[1]:+.1f} MiB)")  # fmt: skip
        if len(totals) > 6:  # several bursts: after the last cool-down
            print(f"  RSS after last cool-down / after steady {_ratio(totals[-2], totals[1])} "
                  f"({totals[-2] - totals[1]:+.1f} MiB)")  # fmt: skip


def print_memory(samples: list[tuple[str, dict[str, float]]]) -> None:
    if not samples or not samples[0][1]:
        print("\nmemory: no server process to measure (--url without --pid)")
        return
    procs = list(dict.fromkeys(k for _, mem in samples for k in mem))
    print(
        f"\n{'RSS MiB':<22}" + "".join(f"{p:>18}" for p in procs) + f"{'total':>9}{'x steady':>9}"
    )
    steady = sum(samples[1][1].values()) if len(samples) > 1 else math.nan
    for when, mem in samples:
        total = sum(mem.values())
        row = "".join(f"{mem.get(p, math.nan):>18.1f}" for p in procs)
        print(f"{when:<22}{row}{total:>9.1f}{_ratio(total, steady):>9}")


def print_audit(phases: list[Phase], logged: set[str]) -> None:
    print(f"\n{'audit':<10}{'parcels':>9}{'answered 200':>14}{'logged':>8}"
          f"{'logged, not 200':>17}{'200, not logged':>17}")  # fmt: skip
    for ph in phases:
        sent = {pid for s in ph.sent for pid in s.parcel_ids}
        ok = {pid for s in ph.sent if s.outcome == "200" for pid in s.parcel_ids}
        mine = sent & logged
        print(f"{ph.name:<10}{len(sent):>9}{len(ok):>14}{len(mine):>8}{len(mine - ok):>17}"
              f"{len(ok - mine):>17}")  # fmt: skip
        if mine - ok:
            how = Counter(s.outcome for s in ph.sent if set(s.parcel_ids) & (mine - ok))
            print(f"  {ph.name}: logged but not acknowledged, by answer: {dict(how)}")


def _checkout(root: Path | None) -> str:
    where = root or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "?"
    return f"{where} ({head or '?'})"


async def run(args, base: str, api_key: str | None, records: list[dict], pid: int | None):
    traffic = Traffic(base, api_key, records, args.parcels)
    memory: list[tuple[str, dict[str, float]]] = []
    timeout = args.client_timeout

    async def closed_loop(*how) -> Phase:
        return await _cpu_counted(_closed_loop(traffic, *how), pid)

    async def open_loop(*how) -> Phase:
        return await _cpu_counted(_open_loop(traffic, *how), pid)

    warm = await closed_loop("warm-up", 1, 2, timeout)
    if warm.count("200") == 0:
        raise RuntimeError(f"warm-up got no 200: {Counter(s.outcome for s in warm.sent)}")
    capacity = await closed_loop("capacity", 1, args.capacity_seconds, timeout)
    rate = args.steady_rate or max(1.0, round(0.6 * capacity.ok_per_s, 1))
    print(f"capacity {capacity.ok_per_s:.1f} req/s with one client; steady rate {rate:g} "
          f"req/s ({rate / capacity.ok_per_s:.0%} of it)", flush=True)  # fmt: skip
    memory.append(("before steady", server_memory(pid)))
    steady = await open_loop("steady", rate, args.steady_seconds, timeout)
    memory.append(("after steady", server_memory(pid)))
    print(f"steady done ({len(steady.sent)} requests); burst of {args.burst_clients} "
          "clients", flush=True)  # fmt: skip
    bursts = []
    for i in range(1, args.bursts + 1):
        name = "burst" if args.bursts == 1 else f"burst {i}"
        bursts.append(await closed_loop(name, args.burst_clients, args.burst_seconds,
                                        timeout, args.honor_retry_after))  # fmt: skip
        memory.append((f"after {name}", server_memory(pid)))
        await asyncio.sleep(args.cooldown_seconds)
        memory.append((f"  {args.cooldown_seconds:g} s later", server_memory(pid)))
    recovery = await open_loop("recovery", rate, args.recovery_seconds, timeout)
    memory.append(("after recovery", server_memory(pid)))
    return [warm, capacity, steady, *bursts, recovery], memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument("--steady-rate", type=float, default=None,
                        help="requests/s (default: 60%% of the measured capacity)")  # fmt: skip
    parser.add_argument("--burst-clients", type=int, default=200)
    parser.add_argument("--burst-seconds", type=float, default=15)
    parser.add_argument("--bursts", type=int, default=1,
                        help="bursts, each with its cool-down")  # fmt: skip
    parser.add_argument("--capacity-seconds", type=float, default=5)
    # past BentoML's 60 s request timeout, whose timers keep each request's context alive
    parser.add_argument("--cooldown-seconds", type=float, default=70)
    parser.add_argument("--recovery-seconds", type=float, default=10)
    parser.add_argument("--client-timeout", type=float, default=70)
    parser.add_argument(
        "--honor-retry-after",
        action="store_true",
        help="burst clients wait Retry-After (at most 1 s) after a 503",
    )
    parser.add_argument("--parcels", type=int, default=1, help="parcels per request")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--history", type=int, default=5_000,
                        help="parcels logged before the start (bench_serve: 20,000)")  # fmt: skip
    parser.add_argument("--root", type=Path, default=None,
                        help="serve the code of this checkout (with its own .venv)")  # fmt: skip
    parser.add_argument("--url", default=None, help="a running service (127.0.0.1) to load")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("PARCELRISK_API_KEY"),
        help="with --url: the key to send (default $PARCELRISK_API_KEY)",
    )
    parser.add_argument("--audit-url", default=None, help="with --url: its audit store")
    parser.add_argument("--pid", type=int, default=None,
                        help="with --url: the `bentoml serve` process, for memory")  # fmt: skip
    args = parser.parse_args()
    if args.url and httpx.URL(args.url).host not in ("127.0.0.1", "localhost"):
        parser.error("--url must be a service on 127.0.0.1")
    warnings.simplefilter("ignore")
    test = split_by_time(read_declarations(args.data), 14).test
    records = json.loads(example_input(test, len(test)).to_json(orient="records"))
    logged, records = records[: args.history], records[args.history :]
    print(f"load average at start {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} ({os.cpu_count()} cores)")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            print(f"service {args.url} (already running)")
            phases, memory = asyncio.run(run(args, args.url, args.api_key, records, args.pid))
            audit_url = args.audit_url
        else:
            print(f"service code {_checkout(args.root)}; workers {args.workers}; "
                  f"model {args.model}; history {len(logged):,} parcels")  # fmt: skip
            _log(load_model(args.model), logged, Path(tmp) / "audit.db")
            api_key = secrets.token_urlsafe(24)
            os.environ.update({"PARCELRISK_API_KEY": api_key, "MLFLOW_DISABLE_TELEMETRY": "true",
                               "BENTOML_HOME": str(Path(tmp) / "bentoml-home")})  # fmt: skip
            proc, base = start_service(args.model, Path(tmp), args.workers, args.root)
            try:
                phases, memory = asyncio.run(run(args, base, api_key, records, proc.pid))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            audit_url = f"sqlite:///{Path(tmp) / 'audit.db'}"
            log_text = (Path(tmp) / "serve.log").read_text(errors="replace")
        logged_ids = (
            AuditStore(audit_url, create=False).scored(
                pid for ph in phases for s in ph.sent for pid in s.parcel_ids
            )
            if audit_url
            else None
        )

    capacity = phases[1]
    print_phases(phases, capacity)
    print_memory(memory)
    print_ratios(phases, memory)
    if logged_ids is None:
        print("\naudit: not checked (--url without --audit-url)")
    else:
        print_audit(phases, logged_ids)
    if not args.url:
        print_server_side(phases, server_ms(log_text))
        lines = log_text.splitlines()
        print(f"\nserver log: {len(lines):,} lines, {sum('503' in x for x in lines):,} naming "
              f"503, {sum('Traceback' in x for x in lines)} tracebacks")  # fmt: skip
    print(f"load average at end {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
