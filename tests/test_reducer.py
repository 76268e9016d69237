"""DataParallel's bucketed gradient all-reduce (plait.distribution.reducer), in one process."""

import numpy as np
import pytest
import torch
import torch.distributed as dist

from plait.distribution.reducer import GradientReducer


@pytest.fixture
def group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))


def test_buckets_start_while_backward_runs_and_sum_exactly(group):
    model = net()
    params = list(model.parameters())
    reducer = GradientReducer(params, bucket_mb=1e-5)  # about 10 bytes: a bucket per tensor
    assert len(reducer.buckets) > 2
    started_when_first_layer_ready = []
    # The first layer's weight gets its gradient last: by then the later layers' buckets are under way.
    params[0].register_post_accumulate_grad_hook(
        lambda p: started_when_first_layer_ready.append(reducer.buckets_started)
    )
    x = torch.randn(5, 6)
    reducer.arm()
    model(x).square().sum().backward()
    grads, finite = reducer.finish()
    assert finite and started_when_first_layer_ready[0] >= len(reducer.buckets) - 2
    reference = net()
    expected = torch.autograd.grad(reference(x).square().sum(), list(reference.parameters()))
    for got, want in zip(grads, expected):
        np.testing.assert_array_equal(got.numpy(), want.numpy())  # one process: the sum is the gradient
    reducer.remove()


def test_poison_makes_the_sum_not_finite_and_missing_gradients_are_none(group):
    model = net()
    model[2].weight.requires_grad_(True)
    reducer = GradientReducer(list(model.parameters()))
    reducer.arm(poison=True)
    model[3](model[0](torch.randn(2, 6)) * 0 + 1).sum().backward()  # model[2] gets no gradient
    grads, finite = reducer.finish()
    assert not finite
    assert grads[2] is None and grads[3] is None and grads[0] is not None
    reducer.remove()
