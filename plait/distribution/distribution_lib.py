"""Keras 3's ``keras.distribution`` API on ``torch.distributed``.

One process per device, launched by ``torchrun`` (or SLURM, or ``torch.multiprocessing``):
:func:`initialize` joins the process group, a :class:`Distribution` says how the data and the
weights are laid out over the processes, and ``fit``/``evaluate``/``predict`` follow it.

- :class:`DataParallel`: every process holds the whole model; ``batch_size`` is the global
  batch, split across the processes; gradients, BatchNormalization's batch moments and the
  metrics are summed across them, so the numbers are those of one process with the same batch.
- :class:`FullyShardedDataParallel` (a plait extension): :class:`DataParallel` with every
  weight sharded over the processes by ``torch.distributed.fsdp.fully_shard`` (FSDP).
- :class:`ModelParallel`: the weights named by a :class:`LayoutMap` are sharded over the
  mesh's model axes as ``torch.distributed.tensor`` DTensors; the data is split over its batch
  axis (replicated when that axis has size 1; otherwise each model replica's gradients are
  averaged over the batch axis, as under :class:`DataParallel`).

The names, arguments and checks are those of Keras's ``keras.distribution``.

Example:
    >>> from plait import distribution
    >>> mesh = distribution.DeviceMesh(shape=(1,), axis_names=("batch",), devices=["cpu:0"])
    >>> layout_map = distribution.LayoutMap(mesh)
    >>> layout_map[".*dense.*kernel"] = (None, "batch")
    >>> layout_map["dense_1/kernel"]
    <TensorLayout axes=(None, 'batch'), device_mesh=<DeviceMesh shape=(1,), axis_names=('batch',)>>
"""

import atexit
import collections.abc
import contextlib
import datetime
import math
import os
import re

import numpy as np
import torch
import torch.distributed as dist

_STATE = {"distribution": None}
DEFAULT_TIMEOUT_S = 300.0


# ---------------------------------------------------------------------- processes and devices
def initialize(job_addresses=None, num_processes=None, process_id=None, timeout=None):
    """Join the process group (Keras's ``keras.distribution.initialize``).

    Reads ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
    ``MASTER_PORT``, ``LOCAL_RANK``), else SLURM's (``SLURM_PROCID``, ``SLURM_NTASKS``,
    ``SLURM_LOCALID``; ``MASTER_ADDR``/``MASTER_PORT`` name the coordinator), else Keras's
    ``KERAS_DISTRIBUTION_JOB_ADDRESSES``/``_NUM_PROCESSES``/``_PROCESS_ID``. Uses NCCL when CUDA
    is available (and pins the process to GPU ``LOCAL_RANK``), gloo otherwise.

    Args:
        job_addresses: ``"host:port,..."``; the first is the coordinator (default: from the
            environment).
        num_processes: the number of processes (default: from the environment).
        process_id: this process's rank (default: from the environment).
        timeout: seconds a collective waits for the other processes before failing (default
            300, or ``PLAIT_DISTRIBUTION_TIMEOUT``): a process that died makes the others fail
            with an error, not hang.
    """
    env = os.environ
    if dist.is_initialized():
        return
    rank = _first(process_id, env.get("RANK"), env.get("SLURM_PROCID"), env.get("KERAS_DISTRIBUTION_PROCESS_ID"))
    world = _first(
        num_processes, env.get("WORLD_SIZE"), env.get("SLURM_NTASKS"), env.get("KERAS_DISTRIBUTION_NUM_PROCESSES")
    )
    addresses = job_addresses or env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if rank is None or world is None:
        raise ValueError(
            "initialize() found no process rank or count: launch with torchrun (RANK, WORLD_SIZE) or SLURM "
            "(SLURM_PROCID, SLURM_NTASKS), or pass them. "
            f"Received: process_id={process_id}, num_processes={num_processes}"
        )
    if addresses:
        host, _, port = addresses.split(",")[0].strip().rpartition(":")
        init_method = f"tcp://{host}:{port}"
    elif "MASTER_ADDR" in env and "MASTER_PORT" in env:
        init_method = "env://"
    else:
        raise ValueError(
            "initialize() needs the coordinator's address: set MASTER_ADDR and MASTER_PORT (torchrun does) or "
            "pass job_addresses='host:port,...'."
        )
    timeout = float(timeout if timeout is not None else env.get("PLAIT_DISTRIBUTION_TIMEOUT", DEFAULT_TIMEOUT_S))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(env.get("LOCAL_RANK", env.get("SLURM_LOCALID", 0))))
    dist.init_process_group(
        backend,
        init_method=init_method,
        rank=int(rank),
        world_size=int(world),
        timeout=datetime.timedelta(seconds=timeout),
    )
    # The process group is torch's to tear down: without it, a process can exit while gloo's
    # threads still run ("terminate called without an active exception", an abort at exit).
    atexit.register(_shut_down)


def _shut_down():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _first(*values):
    return next((v for v in values if v is not None), None)


def num_processes():
    return dist.get_world_size() if dist.is_initialized() else 1


def process_id():
    return dist.get_rank() if dist.is_initialized() else 0


def list_devices(device_type=None):
    """The devices of all processes, ``"cpu:0"``, ``"gpu:1"``, ... (one per process, as
    ``torchrun`` runs them; a single process lists its own GPUs, or one CPU).

    Args:
        device_type: ``"cpu"`` or ``"gpu"`` (default: ``"gpu"`` if CUDA is available).
    """
    if device_type not in (None, "cpu", "gpu"):
        raise ValueError(f"`device_type` must be 'cpu', 'gpu' or None. Received: device_type={device_type!r}")
    kind = device_type or ("gpu" if torch.cuda.is_available() else "cpu")
    if dist.is_initialized():
        return [f"{kind}:{i}" for i in range(dist.get_world_size())]
    count = torch.cuda.device_count() if kind == "gpu" else 1
    return [f"{kind}:{i}" for i in range(count)]


def get_device_count(device_type=None):
    return len(list_devices(device_type))


# ---------------------------------------------------------------------- mesh and layouts
class DeviceMesh:
    """A grid of devices with named axes (Keras's ``DeviceMesh``).

    Args:
        shape: e.g. ``(8,)`` for data parallelism, ``(2, 4)`` for data and model parallelism.
        axis_names: one name per axis, e.g. ``("batch", "model")``.
        devices: the devices (default: :func:`list_devices`); their number must be the
            product of ``shape``.
    """

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError(f"Shape and axis_names cannot be empty. Received: shape={shape}, axis_names={axis_names}")
        if len(shape) != len(axis_names):
            raise ValueError(
                f"Shape and axis_names should have same size. Received: shape={shape}, axis_names={axis_names}"
            )
        devices = np.array(list_devices() if devices is None else devices)
        if math.prod(shape) != devices.size:
            raise ValueError(
                f"Shape does not match the number of devices. Received: shape={shape}; devices.shape={devices.shape}"
            )
        self._shape, self._axis_names = tuple(shape), tuple(axis_names)
        self._devices = devices.reshape(shape)
        self._torch_mesh = None

    shape = property(lambda self: self._shape)
    axis_names = property(lambda self: self._axis_names)
    devices = property(lambda self: self._devices)

    @property
    def backend_mesh(self):
        """The ``torch.distributed.device_mesh.DeviceMesh`` over the processes (built once)."""
        if self._torch_mesh is None:
            from torch.distributed.device_mesh import init_device_mesh

            device_type = "cuda" if str(self._devices.flat[0]).startswith("gpu") else "cpu"
            self._torch_mesh = init_device_mesh(device_type, self._shape, mesh_dim_names=self._axis_names)
        return self._torch_mesh

    def __repr__(self):
        return f"<DeviceMesh shape={self.shape}, axis_names={self.axis_names}>"


class TensorLayout:
    """How a tensor's dimensions map to mesh axes (Keras's ``TensorLayout``).

    Args:
        axes: one mesh axis name (or None: not sharded) per tensor dimension.
        device_mesh: the mesh (set later by a :class:`LayoutMap` if None).
    """

    def __init__(self, axes, device_mesh=None):
        self._axes, self._device_mesh = tuple(axes), device_mesh
        self._validate_axes()

    axes = property(lambda self: self._axes)

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError(f"Cannot override device mesh value. Existing value is {self._device_mesh}")
        self._device_mesh = device_mesh
        self._validate_axes()

    def _validate_axes(self):
        if self._device_mesh:
            valid = set(self._device_mesh.axis_names)
            if set(self._axes) - {None} - valid:
                raise ValueError(
                    f"Invalid axis names for Layout. Valid axis names: {valid}, Got {set(self._axes) - {None}}"
                )

    def __repr__(self):
        return f"<TensorLayout axes={self.axes}, device_mesh={self.device_mesh}>"


class LayoutMap(collections.abc.MutableMapping):
    """Weight path regexes -> :class:`TensorLayout` (Keras's ``LayoutMap``).

    A key matches a weight's ``path`` (``"dense_1/kernel"``) with ``re.fullmatch``; a path
    matching two keys is an error. A tuple of axis names stands for a ``TensorLayout``.

    Args:
        device_mesh: the mesh the layouts refer to.
    """

    def __init__(self, device_mesh):
        self._layout_map = collections.OrderedDict()
        self._device_mesh = device_mesh

    def __getitem__(self, key):
        if key in self._layout_map:
            return self._layout_map[key]
        matching = [pattern for pattern in self._layout_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(
                f"Path '{key}' matches multiple layout specification keys: {matching}. Please make sure each "
                "tensor/variable path only matches at most one layout specification key in the LayoutMap."
            )
        return self._layout_map[matching[0]] if matching else None

    def __setitem__(self, key, layout):
        if key in self._layout_map:
            raise ValueError(
                f"{key} already exist in the LayoutMap with value {self._layout_map[key]}. "
                "Please make sure to not use duplicated keys."
            )
        if isinstance(layout, (tuple, list)):
            layout = TensorLayout(axes=layout)
        if not isinstance(layout, TensorLayout):
            raise ValueError(f"{layout} should be a TensorLayout type, got {type(layout)}")
        if layout.device_mesh is None:
            layout.device_mesh = self._device_mesh
        self._layout_map[key] = layout

    def __delitem__(self, key):
        return self._layout_map.pop(key)

    def __len__(self):
        return len(self._layout_map)

    def __iter__(self):
        return iter(self._layout_map)

    device_mesh = property(lambda self: self._device_mesh)


# ---------------------------------------------------------------------- distributions
class Distribution:
    """Base class: a mesh, the name of its batch axis, and whether datasets are sharded."""

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh, self._batch_dim_name = device_mesh, batch_dim_name
        self.auto_shard_dataset = auto_shard_dataset
        self._num_processes, self._process_id = num_processes(), process_id()
        if device_mesh is not None and math.prod(device_mesh.shape) != self._num_processes:
            raise ValueError(
                f"The device mesh has {math.prod(device_mesh.shape)} devices (shape={device_mesh.shape}), but "
                f"{self._num_processes} process(es) run; plait runs one process per device "
                "(launch with torchrun --nproc_per_node=<devices> and call plait.distribution.initialize())."
            )

    num_processes = property(lambda self: self._num_processes)
    device_mesh = property(lambda self: self._device_mesh)
    batch_dim_name = property(lambda self: self._batch_dim_name)

    @property
    def num_model_replicas(self):
        raise NotImplementedError

    @property
    def data_shard_id(self):
        """Which shard of each global batch this process reads: its coordinate on the mesh's
        batch axis (process ``i`` is device ``i`` of the mesh, in row-major order)."""
        replicas = self.num_model_replicas
        if replicas >= self._num_processes:
            return self._process_id
        if self._batch_dim_name not in self._device_mesh.axis_names:
            return 0
        coordinates = np.unravel_index(self._process_id, self._device_mesh.shape)
        return int(coordinates[self._device_mesh.axis_names.index(self._batch_dim_name)])

    def get_data_layout(self, data_shape):
        axes = [None] * len(data_shape)
        axes[0] = self._batch_dim_name
        return TensorLayout(axes, self._device_mesh)

    def get_variable_layout(self, variable):
        raise NotImplementedError

    @contextlib.contextmanager
    def scope(self):
        """Make this the distribution inside the ``with`` block."""
        previous = _STATE["distribution"]
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def __repr__(self):
        return f"<{type(self).__name__} device_mesh={self._device_mesh}, batch_dim_name={self._batch_dim_name}>"


class DataParallel(Distribution):
    """Data parallelism: every process holds the whole model and reads ``1/N`` of each global
    batch; gradients are averaged over the global batch (Keras's ``DataParallel``).

    Args:
        device_mesh: a 1-D mesh (default: one over ``devices``).
        devices: the devices (default: :func:`list_devices`, one per process).
        auto_shard_dataset: split every data source by process (``False``: each process's
            data is already its own shard, and ``batch_size`` is per process).
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh is None:
            devices = list_devices() if devices is None else devices
            device_mesh = DeviceMesh(shape=(len(devices),), axis_names=("batch",), devices=devices)
        elif len(device_mesh.shape) != 1:
            raise ValueError(f"DataParallel needs a 1-D device mesh. Received: {device_mesh}")
        super().__init__(device_mesh, device_mesh.axis_names[0], auto_shard_dataset)

    @property
    def num_model_replicas(self):
        return self._num_processes

    def get_variable_layout(self, variable):
        return TensorLayout([None] * len(getattr(variable, "shape", ())), self._device_mesh)


class FullyShardedDataParallel(DataParallel):
    """Data parallelism with every weight sharded over the processes: PyTorch's FSDP
    (``torch.distributed.fsdp.fully_shard``) for models whose weights, gradients and optimizer
    state do not fit one device, without writing a :class:`LayoutMap` (a plait extension;
    Keras 3 has no such distribution).

    Each layer with weights becomes an FSDP unit: its weights are split along their first
    dimension (``Shard(0)`` DTensors, 1/N per process), gathered whole just before the layer
    runs and freed after; the gradients are reduce-scattered, so each process updates its own
    shard. Everything else is :class:`DataParallel`'s: ``batch_size`` is the global batch,
    every process reads its part, BatchNormalization uses the global moments, metrics and
    History are global, and the numbers are those of one process. ``get_weights``, ``save``
    and ``save_weights`` gather the whole weights.

    Args:
        device_mesh: a 1-D mesh (default: one over ``devices``).
        devices: the devices (default: :func:`list_devices`, one per process).
        auto_shard_dataset: as in :class:`DataParallel`.
        reshard_after_forward: free the gathered weights after each layer's forward (and
            gather them again for the backward pass): FSDP's memory-saving default (ZeRO-3);
            ``False`` keeps them until the backward pass (ZeRO-2, less communication).

    Example (under ``torchrun``, every process runs the same script; in one process nothing
    is sharded):
        >>> from plait import distribution
        >>> fsdp = distribution.FullyShardedDataParallel(devices=["cpu:0"])
        >>> fsdp.num_model_replicas, fsdp.reshard_after_forward
        (1, True)
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True, reshard_after_forward=True):
        super().__init__(device_mesh, devices, auto_shard_dataset)
        self.reshard_after_forward = bool(reshard_after_forward)


class ModelParallel(Distribution):
    """Model parallelism: the weights a :class:`LayoutMap` names are sharded over the mesh
    (as DTensors), the others replicated; the data is split over ``batch_dim_name``
    (Keras's ``ModelParallel``).

    Args:
        layout_map: the :class:`LayoutMap` (its mesh is the distribution's).
        batch_dim_name: the mesh axis the batch is split over (default: the mesh's first).
        auto_shard_dataset: as in :class:`DataParallel`.
    """

    def __init__(self, *, layout_map=None, batch_dim_name=None, **kwargs):
        if layout_map is None:
            raise ValueError("You must specify a layout_map argument.")
        if not isinstance(layout_map, LayoutMap):
            raise ValueError(f"Argument `layout_map` must be a `LayoutMap` instance. Received: layout_map={layout_map}")
        mesh = layout_map.device_mesh
        batch_dim_name = batch_dim_name or mesh.axis_names[0]
        if batch_dim_name not in mesh.axis_names:
            raise ValueError(
                f"`batch_dim_name` must be an axis of the device mesh {mesh.axis_names}. Received: {batch_dim_name!r}"
            )
        super().__init__(mesh, batch_dim_name, kwargs.pop("auto_shard_dataset", True))
        self._layout_map = layout_map

    layout_map = property(lambda self: self._layout_map)

    @property
    def num_model_replicas(self):
        return self._device_mesh.shape[self._device_mesh.axis_names.index(self._batch_dim_name)]

    def get_variable_layout(self, variable):
        return self._layout_map[variable.path]


def distribution():
    """The distribution in effect (None: one process, nothing distributed)."""
    return _STATE["distribution"]


def set_distribution(value):
    """Make ``value`` (a :class:`Distribution`, or None) the global distribution; set it before
    building the model."""
    if value is not None and not isinstance(value, Distribution):
        raise TypeError(f"`set_distribution` takes a Distribution or None. Received: {type(value).__name__}")
    _STATE["distribution"] = value
