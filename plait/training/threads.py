"""How many threads torch's CPU kernels use during ``fit``: measured on the running fit.

torch starts one OpenMP thread per core, and OpenMP threads spin at the end of every parallel
region waiting for the others. When another process holds a core (a second job, a notebook,
the fit's own data-loading workers), a spinning thread waits for a descheduled one, and a
small model's step gets several times slower: on the project's 2-core machine the seed MLP's
step went from 1.1 ms to 5.5 ms with one competing busy process, while one thread kept it at
1.1-1.3 ms. A large convolution, on the other hand, runs nearly twice as fast on two threads
of a quiet machine.

So no count is right everywhere, and ``fit`` measures: :class:`ThreadTuner` times a few steps
with torch's count and with fewer threads, alternating, keeps the fastest, and measures again
every ``hold_s`` seconds (the machine's load changes). At the end of ``fit`` torch's count is
put back. The count never exceeds the cores left over by the fit's data-loading worker
processes.

``PLAIT_NUM_THREADS`` overrides it: ``auto`` (the default) tunes; an integer fixes the count
for the fit; ``off`` leaves torch's count alone. Setting ``OMP_NUM_THREADS``, or calling
``torch.set_num_threads`` before ``fit``, also leaves the count alone: plait tunes only the
count torch chose itself. Nothing is tuned on an accelerator. A fit of fewer than
``min_steps`` steps is too short to time counts: :class:`LoadCheck` reads instead, over its
first step, how many cores other processes keep busy, and leaves those cores to them.
"""

import os
import time
import weakref

import torch

_TORCH_DEFAULT = torch.get_num_threads()  # torch's own choice, before anyone changes it
_set_by_plait = None  # the count plait last set (it is not the user's choice)
_recent = weakref.WeakKeyDictionary()  # model -> (the count its last fit chose, when)


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def candidates(workers=0):
    """The thread counts ``fit`` may try (the first is where it starts), or ``[]`` when the
    count is not plait's to choose (see the module doc).

    Args:
        workers: data-loading worker processes of the fit, each taking a core.

    Example:
        >>> import os
        >>> os.environ["PLAIT_NUM_THREADS"] = "3"
        >>> candidates()
        [3]
        >>> del os.environ["PLAIT_NUM_THREADS"]
    """
    setting = os.environ.get("PLAIT_NUM_THREADS", "auto").strip().lower()
    if setting in ("off", "torch", "none"):
        return []
    if setting != "auto":
        try:
            count = int(setting)
        except ValueError:
            raise ValueError(
                f"PLAIT_NUM_THREADS must be 'auto', 'off' or a positive integer. Received: {setting!r}"
            ) from None
        if count < 1:
            raise ValueError(f"PLAIT_NUM_THREADS must be 'auto', 'off' or a positive integer. Received: {count}")
        return [count]
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return []
    current = torch.get_num_threads()
    if current not in (_TORCH_DEFAULT, _set_by_plait):
        return []  # the user chose it with torch.set_num_threads
    top = max(1, min(_TORCH_DEFAULT, _cores() - workers))
    counts = [top]
    while counts[-1] > 1:
        counts.append(max(1, counts[-1] // 2 if counts[-1] > 2 else 1))
    return counts if len(counts) <= 3 else [counts[0], counts[1], 1]


def for_fit(model, steps, workers=0, pinned=None):
    """The :class:`ThreadTuner` of a fit of ``steps`` steps (None: unknown) on ``model``, with
    ``workers`` data-loading worker processes. A fit on an accelerator, or of fewer than
    ``min_steps`` steps, times no counts: the latter takes fewer threads only when other
    processes hold cores (:class:`LoadCheck`); a fixed ``PLAIT_NUM_THREADS`` is still set.
    ``pinned``: the count a compiled step of the model was traced with (torch.compile guards
    on it: another count would recompile), which the fit keeps."""
    global _active
    counts = candidates(workers)
    if len(counts) > 1 and pinned is not None:
        counts = [pinned]
    if len(counts) > 1 and model.device.type != "cpu":
        counts = []
    if len(counts) > 1 and steps is not None and steps < min_steps:
        _active = LoadCheck(counts)  # too few steps to time counts: look at the other processes
    else:
        _active = ThreadTuner(counts, key=model)
    return _active


def _end_fit(chooser):
    """A fit's count chooser (:class:`ThreadTuner`, :class:`LoadCheck`) is done: no fit is
    running, and torch's count is put back if the chooser had any to choose from."""
    global _active
    if _active is chooser:
        _active = None
    if chooser.counts:
        _set(chooser.original)


def _busy_seconds():
    """(CPU seconds the whole machine has been busy, CPU seconds of this process), or None
    where ``/proc/stat`` is missing (not Linux)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    own = os.times()
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"), own.user + own.system


class LoadCheck:
    """The thread count of a fit too short to time counts (:class:`ThreadTuner`): during its
    first execution it measures how many cores other processes keep busy (``/proc/stat``
    against this process's own CPU time) and, when they hold one or more, takes the largest
    candidate count that fits in the cores left. Torch's count otherwise; nothing off Linux.

    The seed's conv model fits 12 steps of 0.3-0.4 s: with one other busy process, torch's two
    threads on the one free core wait for each other and each step took 1.9x its quiet time.

    Args:
        counts: the candidate counts (:func:`candidates`), the largest first.
        busy: returns ``(machine busy seconds, own seconds)`` (``_busy_seconds``; tests pass theirs).
        clock: seconds as a float.

    Example:
        >>> check = LoadCheck([2, 1], busy=iter([(0.0, 0.0), (2.0, 1.0)]).__next__, clock=iter([0.0, 1.0]).__next__)
        >>> check.before(); check.after(1)
        >>> check.chosen  # another process kept one core busy for the whole second
        1
        >>> check.close()
    """

    min_seconds = 0.05  # /proc/stat counts in 10 ms ticks: a shorter window says little

    def __init__(self, counts, busy=_busy_seconds, clock=time.perf_counter):
        self.counts, self.busy, self.clock = list(counts), busy, clock
        self.original = torch.get_num_threads()
        self.chosen = None
        self.probing = False
        self._start = None

    @property
    def active(self):
        return self.chosen is None

    def freeze(self):
        """Keep the current count for the rest of the fit."""
        self.chosen = torch.get_num_threads()

    def before(self):
        """An execution starts: the first one is measured."""
        if self.active and self._start is None:
            self._start = (self.clock(), self.busy())

    def after(self, steps):
        """An execution ended: after the first, the count is chosen."""
        if not self.active or self._start is None:
            return
        (t0, before), now, after = self._start, self.clock(), self.busy()
        if before is None or after is None or now - t0 < self.min_seconds:
            self.chosen = self.original  # nothing to read, or too short to read it
            return
        others = ((after[0] - before[0]) - (after[1] - before[1])) / (now - t0)
        free = _cores() - round(others)
        fitting = [c for c in self.counts if c <= max(1, free)]
        self.chosen = fitting[0] if fitting else self.counts[-1]
        if self.chosen != torch.get_num_threads():
            _set(self.chosen)

    def close(self):
        """The fit ended: torch's count as it was before."""
        _end_fit(self)


def probing():
    """Whether the running fit is still timing thread counts (step times are not settled)."""
    return _active is not None and _active.probing


def pin():
    """Keep the running fit's current count from now on (a step is being compiled with it);
    returns it."""
    if _active is not None:
        _active.freeze()
    return torch.get_num_threads()


_active = None  # the ThreadTuner of the fit running now


min_steps = 30


def _set(count):
    global _set_by_plait
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    _set_by_plait = count


class ThreadTuner:
    """Chooses torch's thread count while a fit runs, from the measured step times.

    Args:
        counts: the counts to try (:func:`candidates`); one count is simply set, none does
            nothing.
        clock: seconds as a float (``time.perf_counter``; tests pass their own).

    ``fit`` calls :meth:`before` and :meth:`after` around each execution of steps and
    :meth:`close` at its end. The first ``warmup`` executions are not timed (they build the
    step). Then each count is timed over a window of at least ``window_steps`` steps and
    ``window_s`` seconds, round-robin, twice, unless the first round already shows one count
    25% faster than another; the fastest is kept for ``hold_s`` seconds, after which the counts
    are timed again. Each time that finds the same count, the hold doubles (up to 16x): timing
    a slower count costs steps (about 8% of the seed's conv fit with a 10 s hold), and a load
    that stays the same need not be measured as often.

    Example:
        >>> tuner = ThreadTuner([])  # nothing to choose
        >>> tuner.before(); tuner.after(1); tuner.close()
        >>> tuner.chosen is None
        True
    """

    warmup, window_steps, window_s, hold_s = 2, 3, 0.05, 10.0

    def __init__(self, counts, clock=time.perf_counter, key=None):
        self.counts = list(counts)
        self.clock = clock
        self.key = key
        self.original = torch.get_num_threads()
        self.chosen = None
        self.history = []  # (count, seconds per step) of every timed window
        self._order = []
        self._times = {}
        self._warm = 0
        self._t0 = self._steps = self._since = None
        self._window_start, self._elapsed = None, 0.0
        self._frozen = False
        self._hold = self.hold_s
        if len(self.counts) == 1:
            self.chosen = self.counts[0]
            _set(self.chosen)
        elif self.counts:
            recent = _recent.get(key) if key is not None else None
            if recent is not None and recent[0] in self.counts and clock() - recent[1] < self.hold_s:
                # The last fit of this model chose a moment ago: hold its choice (a loop of
                # short fits does not time the slower counts again and again).
                self.chosen, self._since, self._warm = recent[0], recent[1], self.warmup
                _set(self.chosen)
            else:
                self._probe()

    @property
    def active(self):
        return len(self.counts) > 1 and not self._frozen

    @property
    def probing(self):
        return self.active and (bool(self._order) or self._warm < self.warmup)

    def freeze(self):
        """Keep the current count for the rest of the fit."""
        self._frozen, self._order = True, []
        self.chosen = torch.get_num_threads()

    def _probe(self):
        self._order = [c for _ in range(2) for c in self.counts]
        self._times = {c: [] for c in self.counts}
        self._next_window()

    def _next_window(self):
        _set(self._order[0])
        self._window_start, self._steps = None, 0

    def before(self):
        """An execution starts."""
        if self.active:
            self._t0 = self.clock()

    def after(self, steps):
        """An execution of ``steps`` steps ended."""
        if not self.active or self._t0 is None:
            return
        now = self.clock()
        if self._warm < self.warmup:
            self._warm += 1
            return
        if not self._order:  # holding the chosen count
            if now - self._since >= self._hold:
                self._probe()
            return
        if self._window_start is None:
            self._window_start, self._elapsed = now, 0.0
            return  # the first execution after a switch warms the new thread team up
        self._elapsed += now - self._t0
        self._steps += steps
        per_step = self._elapsed / self._steps
        timed = [t for ts in self._times.values() for t in ts]
        clearly_slower = timed and per_step > 3 * min(timed)  # no need to time it longer
        if not clearly_slower and (self._steps < self.window_steps or now - self._window_start < self.window_s):
            return
        count = self._order.pop(0)
        self._times[count].append(per_step)
        self.history.append((count, per_step))
        firsts = [t[0] for t in self._times.values() if t]
        decided = not self._order or (
            len(firsts) == len(self.counts)
            and max(firsts) > 1.25 * min(firsts)
            and len(self._order) == len(self.counts)
        )
        if decided:
            self._order = []
            before, self.chosen = self.chosen, min(self._times, key=lambda c: sum(self._times[c]) / len(self._times[c]))
            self._hold = min(2 * self._hold, 16 * self.hold_s) if before == self.chosen else self.hold_s
            _set(self.chosen)
            self._since = now
            if self.key is not None:
                _recent[self.key] = (self.chosen, now)
        else:
            self._next_window()

    def close(self):
        """The fit ended: torch's count as it was before."""
        _end_fit(self)
