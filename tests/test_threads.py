"""fit's choice of torch's thread count (plait.training.threads): measured, overridable, restored."""

import numpy as np
import pytest
import torch

import plait
from plait.training import threads


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_steps(tuner, clock, cost, steps):
    """``steps`` executions whose duration depends on the thread count in force."""
    used = []
    for _ in range(steps):
        tuner.before()
        used.append(torch.get_num_threads())
        clock.now += cost[torch.get_num_threads()]
        tuner.after(1)
    return used


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


@pytest.mark.parametrize("cost, best", [({2: 0.010, 1: 0.002}, 1), ({2: 0.010, 1: 0.018}, 2)])
def test_tuner_keeps_the_faster_count_and_restores_torchs(keep_threads, cost, best):
    clock = FakeClock()
    tuner = threads.ThreadTuner([2, 1], clock=clock)
    used = run_steps(tuner, clock, cost, 60)
    assert tuner.chosen == best
    assert set(used) == {1, 2}  # both were timed
    assert used[-20:] == [best] * 20  # then held
    assert {count for count, _ in tuner.history} == {1, 2}
    for count, per_step in tuner.history:
        assert per_step == pytest.approx(cost[count])
    tuner.close()
    assert torch.get_num_threads() == keep_threads


def test_tuner_times_again_after_hold_and_follows_the_load(keep_threads):
    clock = FakeClock()
    tuner = threads.ThreadTuner([2, 1], clock=clock)
    run_steps(tuner, clock, {2: 0.004, 1: 0.008}, 40)
    assert tuner.chosen == 2
    # Another process takes a core: two threads now wait on each other.
    steps = int(tuner.hold_s / 0.004) + 40
    run_steps(tuner, clock, {2: 0.030, 1: 0.008}, steps)
    assert tuner.chosen == 1
    tuner.close()


def test_a_clearly_slower_count_is_timed_briefly(keep_threads):
    clock = FakeClock()
    tuner = threads.ThreadTuner([2, 1], clock=clock)
    used = run_steps(tuner, clock, {2: 0.002, 1: 0.100}, 80)
    assert tuner.chosen == 2
    assert used.count(1) <= 3  # one switch-in step and one or two timed ones, not a full round twice
    tuner.close()


def test_candidates_respect_the_users_choice(monkeypatch, keep_threads):
    monkeypatch.delenv("PLAIT_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.candidates() == []
    monkeypatch.setenv("PLAIT_NUM_THREADS", "off")
    assert threads.candidates() == []
    monkeypatch.setenv("PLAIT_NUM_THREADS", "2")
    assert threads.candidates() == [2]
    monkeypatch.setenv("PLAIT_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="PLAIT_NUM_THREADS must be 'auto', 'off' or a positive integer"):
        threads.candidates()
    monkeypatch.setenv("PLAIT_NUM_THREADS", "auto")
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 4)
    monkeypatch.setattr(threads, "_cores", lambda: 4)
    torch.set_num_threads(4)
    assert threads.candidates() == [4, 2, 1]
    assert threads.candidates(workers=3) == [1]  # loader processes take their cores first
    assert threads.candidates(workers=2) == [2, 1]
    torch.set_num_threads(3)  # the user's own count
    assert threads.candidates() == []


def test_fit_sets_the_count_for_its_steps_and_puts_torchs_back(monkeypatch, keep_threads):
    monkeypatch.setenv("PLAIT_NUM_THREADS", "2")
    seen = []

    class Record(plait.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(torch.get_num_threads())

    model = plait.Sequential([plait.layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    torch.set_num_threads(1)
    model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, epochs=2, verbose=0, callbacks=[Record()])
    assert seen == [2, 2, 2, 2]
    assert torch.get_num_threads() == 1


def test_loader_workers_are_counted():
    from plait.training.epoch_iterator import EpochIterator

    model = plait.Sequential([plait.layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    data = torch.utils.data.TensorDataset(torch.ones(8, 3), torch.ones(8, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=2)
    assert EpochIterator(model, loader).loader_workers == 2
    assert EpochIterator(model, np.ones((8, 3)), np.ones((8, 1))).loader_workers == 0


def test_a_compiled_step_pins_the_count(monkeypatch, keep_threads):
    """torch.compile guards on the thread count: once a step compiles, the fit stops tuning."""
    monkeypatch.setattr(threads, "candidates", lambda workers=0: [2, 1])
    model = plait.Sequential([plait.layers.Dense(1, input_shape=(3,))])
    tuner = threads.for_fit(model, None)
    assert threads.probing()
    count = threads.pin()
    assert not threads.probing() and tuner.chosen == count == torch.get_num_threads()
    tuner.close()
    assert threads.for_fit(model, None, pinned=1).counts == [1]  # the next fit keeps it
    threads.for_fit(model, None).close()


def test_the_hold_doubles_while_the_choice_stays(keep_threads):
    """Re-timing a slower count costs steps: while each re-timing finds the same count, the
    next comes twice as late (up to 16x the hold); a change starts over."""
    clock = FakeClock()
    tuner = threads.ThreadTuner([2, 1], clock=clock)
    probes = []
    for _ in range(6):
        steps = int(16 * tuner.hold_s / 0.004)
        used = run_steps(tuner, clock, {2: 0.004, 1: 0.008}, steps)
        probes.append(sum(1 for a, b in zip(used, used[1:]) if a == 2 and b == 1))  # switches to 1 thread
    assert tuner.chosen == 2
    assert probes[0] >= 4 and max(probes[2:]) <= 1  # re-timed at 10, 30, 70, 150 s; then every 160 s
    run_steps(tuner, clock, {2: 0.040, 1: 0.008}, int(16 * tuner.hold_s / 0.008) + 50)
    assert tuner.chosen == 1
    tuner.close()


def fake_busy(*readings):
    """``(machine busy s, own s)`` readings, one per call."""
    return iter(readings).__next__


@pytest.mark.parametrize(
    "readings, seconds, cores, chosen",
    [
        (((0.0, 0.0), (2.0, 1.0)), 1.0, 2, 1),  # another process held a core all the time
        (((0.0, 0.0), (1.1, 1.0)), 1.0, 2, 2),  # nobody else: torch's count
        (((0.0, 0.0), (5.0, 1.0)), 1.0, 4, 1),  # 4 cores, 4 held by others: one thread still runs
        (((0.0, 0.0), (2.0, 1.0)), 1.0, 4, 2),  # 4 cores, 1 held: the largest count that fits (of 4, 2, 1)
        (((0.0, 0.0), (2.0, 1.0)), 0.01, 2, 2),  # too short to read: keep torch's count
        (((0.0, 0.0), None), 1.0, 2, 2),  # no /proc/stat
    ],
)
def test_a_short_fit_leaves_the_cores_other_processes_hold(monkeypatch, keep_threads, readings, seconds, cores, chosen):
    monkeypatch.setattr(threads, "_cores", lambda: cores)
    torch.set_num_threads(2)
    counts = [4, 2, 1] if cores == 4 else [2, 1]
    check = threads.LoadCheck(counts, busy=fake_busy(*readings), clock=iter([0.0, seconds]).__next__)
    check.before()
    check.after(1)
    assert check.chosen == chosen and not check.active
    if chosen != 2:
        assert torch.get_num_threads() == chosen
    check.before()
    check.after(1)  # decided once: later steps change nothing
    check.close()
    assert torch.get_num_threads() == 2


def test_short_fits_check_the_load_and_long_ones_time_counts(monkeypatch, keep_threads):
    monkeypatch.setattr(threads, "candidates", lambda workers=0: [2, 1])
    model = plait.Sequential([plait.layers.Dense(1, input_shape=(3,))])
    assert isinstance(threads.for_fit(model, threads.min_steps - 1), threads.LoadCheck)
    assert isinstance(threads.for_fit(model, threads.min_steps), threads.ThreadTuner)
    threads.for_fit(model, threads.min_steps).close()
    reading = threads._busy_seconds()
    if reading is not None:  # Linux: seconds of CPU time, the machine's and this process's
        assert reading[0] > 0 and reading[1] > 0
