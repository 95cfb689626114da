"""A CPU-time budget for a whole process tree, without control groups (Linux, ``/proc``).

:class:`TreeCpuWatch` is the fallback where :class:`~course_tools.grading.cgroups.CGroup` is
unavailable: it sums the CPU time of a process and all its descendants (exited ones and ones
that left the tree included) and SIGKILLs every one of them once the sum reaches the budget.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from course_tools.grading.procfs import proc_stat, start_time

__all__ = ["TreeCpuWatch"]


class TreeCpuWatch:
    """Kill a process tree once its summed CPU time exceeds a budget (no cgroup needed).

    A fallback for :class:`CGroup` where control groups are unavailable (no root): a thread
    reads ``/proc/<pid>/stat`` of every process every ``interval`` seconds. It follows every
    descendant of ``pid`` seen while its parent was alive, even after it is re-parented or
    starts a session of its own, and counts CPU time that children left to their parents
    (``cutime``/``cstime``) and that of tracked processes that exited. What it can miss: a
    process that is started and re-parented outside the tree within one interval (impossible
    inside the sandbox's PID namespace, where orphans go to the sandbox's PID 1). When the
    total reaches ``budget_seconds`` it SIGKILLs every tracked process, sets ``exceeded``
    and calls ``on_exceed`` (if given). Linux only (``/proc``).
    """

    def __init__(self, pid: int, budget_seconds: float, interval: float = 0.5, on_exceed=None):
        self.pid, self.budget, self.interval, self.on_exceed = pid, float(budget_seconds), interval, on_exceed
        self.exceeded = False
        self.cpu_seconds = 0.0
        """Total CPU seconds of the tree at the last poll."""
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._seen: dict[tuple[int, str], tuple[int, int, int]] = {}
        """(pid, start time) -> (parent pid, own ticks, children's ticks) at the last poll."""
        self._extra = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _table(self) -> dict[int, tuple[str, int, int, int]]:
        table = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                f = proc_stat(name)
                if f and len(f) > 19:
                    table[int(name)] = (f[19], int(f[1]), int(f[11]) + int(f[12]),
                                        int(f[13]) + int(f[14]))
        return table

    def poll(self) -> float:
        """Update the total now (and kill the tree if it is over budget); returns it."""
        table = self._table()
        children: dict[int, list[int]] = {}
        for pid, (_start, ppid, _own, _kids) in table.items():
            children.setdefault(ppid, []).append(pid)
        # the root's descendants, plus every process tracked before (even if re-parented)
        # and its descendants
        todo = [pid for pid in table if (pid, table[pid][0]) in self._seen]
        if self.pid in table and (not self._seen or (self.pid, table[self.pid][0]) in self._seen):
            todo.append(self.pid)
        alive: set[tuple[int, str]] = set()
        while todo:
            p = todo.pop()
            key = (p, table[p][0])
            if key not in alive:
                alive.add(key)
                todo.extend(children.get(p, []))
        # processes gone since the last poll: their time is in a live tracked parent's
        # cutime if it reaped them; whatever the parent's cutime did not grow by is added here
        expected: dict[tuple[int, str], int] = {}
        for key, (ppid, own, kids) in list(self._seen.items()):
            if key in alive:
                continue
            parent = (ppid, table[ppid][0]) if ppid in table else None
            if parent in alive and parent in self._seen:
                expected[parent] = expected.get(parent, 0) + own + kids
            else:
                self._extra += own + kids
            del self._seen[key]
        for parent, want in expected.items():
            grew = table[parent[0]][3] - self._seen[parent][2]
            self._extra += max(0, want - grew)
        total = self._extra
        for key in alive:
            _start, ppid, own, kids = table[key[0]]
            self._seen[key] = (ppid, own, kids)
            total += own + kids
        self.cpu_seconds = max(self.cpu_seconds, total / self._tick)
        if self.cpu_seconds >= self.budget and not self.exceeded:
            self.exceeded = True
            self.kill()
            if self.on_exceed is not None:
                self.on_exceed(self)
        return self.cpu_seconds

    def kill(self) -> None:
        """SIGKILL every tracked process (a few rounds, for children forked meanwhile)."""
        for _ in range(5):
            keys = list(self._seen)
            for pid, start in keys:
                if start_time(pid) == start:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            self.poll_quietly()
            if not any(start_time(pid) == start and (proc_stat(pid) or ["Z"])[0] != "Z"
                       for pid, start in self._seen):
                return
            time.sleep(0.02)

    def poll_quietly(self) -> None:
        """Refresh the tracked set without acting on the budget."""
        exceeded, self.exceeded = self.exceeded, True
        try:
            self.poll()
        finally:
            self.exceeded = exceeded

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except OSError:
                continue
            if self.exceeded:
                return

    def start(self) -> TreeCpuWatch:
        """Watch in a daemon thread until :meth:`stop` (or the budget is hit)."""
        self.poll()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="TreeCpuWatch")
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop watching; returns the last total."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.cpu_seconds

    def __enter__(self) -> TreeCpuWatch:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
