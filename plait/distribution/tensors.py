"""``distribute_tensor``: one tensor laid out over the processes as a ``TensorLayout`` says
(Keras's ``keras.distribution.distribute_tensor``), as a ``torch.distributed.tensor`` DTensor.

Each named axis of the layout shards the tensor's dimension over that axis of the device mesh
(``Shard(dim)``), the others replicate it (``Replicate()``); torch's ``distribute_tensor``
scatters the values from process 0, as every process of a ``torch.distributed`` job holds the
same tensor before it is laid out. In one process without a process group, a mesh of one
device holds the whole tensor on that device.

Example:
    >>> import torch
    >>> from plait import distribution
    >>> mesh = distribution.DeviceMesh(shape=(1,), axis_names=("model",), devices=["cpu:0"])
    >>> layout = distribution.TensorLayout((None, "model"), mesh)
    >>> distribution.distribute_tensor(torch.ones(2, 4), layout).shape
    torch.Size([2, 4])
"""

import math

import torch
import torch.distributed as dist

from plait.distribution.distribution_lib import TensorLayout


def _torch_device(name):
    kind, _, index = str(name).partition(":")
    kind = "cuda" if kind == "gpu" else kind
    return torch.device(kind, int(index)) if index else torch.device(kind)


def placements(layout, ndim):
    """The DTensor placements of ``layout`` for a tensor of rank ``ndim``: one per mesh axis."""
    from torch.distributed.tensor import Replicate, Shard

    mesh = layout.device_mesh
    if len(layout.axes) != ndim:
        raise ValueError(
            f"distribute_tensor: the layout {layout.axes} has {len(layout.axes)} axes, but the tensor has rank {ndim}."
        )
    result = [Replicate()] * len(mesh.axis_names)
    for dim, axis in enumerate(layout.axes):
        if axis is not None:
            if not isinstance(result[mesh.axis_names.index(axis)], Replicate):
                raise ValueError(f"distribute_tensor: the layout {layout.axes} shards two dimensions over '{axis}'.")
            result[mesh.axis_names.index(axis)] = Shard(dim)
    return result


def distribute_tensor(tensor, layout):
    """``tensor`` laid out as ``layout`` says.

    Args:
        tensor: a tensor (or an array); a symbolic tensor is returned as it is, as in Keras
            (layouts apply to values, not to the graph).
        layout: a :class:`TensorLayout` with its device mesh (one mesh axis name, or None, per
            dimension of ``tensor``).

    Returns:
        a ``DTensor`` whose local shard each process holds (under ``torch.distributed``), or
        the tensor on the mesh's one device (one process).
    """
    if type(tensor).__name__ == "SymbolicTensor":
        return tensor
    if not isinstance(layout, TensorLayout):
        raise TypeError(
            f"distribute_tensor: `layout` must be a plait.distribution.TensorLayout. Received: {type(layout).__name__}"
        )
    if layout.device_mesh is None:
        raise ValueError(
            "distribute_tensor: the layout has no device mesh; pass TensorLayout(axes, device_mesh) "
            "or take the layout from a LayoutMap."
        )
    tensor = torch.as_tensor(tensor)
    mesh = layout.device_mesh
    steps = placements(layout, tensor.ndim)
    if not dist.is_initialized():
        if math.prod(mesh.shape) != 1:
            raise ValueError(
                f"distribute_tensor: the mesh has {math.prod(mesh.shape)} devices, but no process group runs; "
                "launch one process per device (torchrun) and call plait.distribution.initialize() first."
            )
        return tensor.to(_torch_device(mesh.devices.flat[0]))
    from torch.distributed.tensor import distribute_tensor as torch_distribute

    return torch_distribute(tensor, mesh.backend_mesh, steps)


__all__ = ["distribute_tensor"]
