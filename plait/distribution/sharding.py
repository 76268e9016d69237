"""ModelParallel: a model's weights as DTensors laid out by a ``LayoutMap`` (and
FullyShardedDataParallel: FSDP units, :func:`fully_shard_model`).

Every weight becomes a ``torch.distributed.tensor.DTensor`` on the mesh: the weights the
layout map names are sharded (``Shard(dim)`` on the named mesh axis), the others replicated.
The forward pass takes its inputs as replicated DTensors, so torch's DTensor operators run the
layers sharded (a matmul with a column-sharded kernel gives column-sharded activations, a
row-sharded one a partial sum that is all-reduced where needed), and the outputs come back as
ordinary tensors for the losses and metrics. The optimizer updates each process's shards.
``get_weights``, ``save`` and ``save_weights`` gather the full weights (:func:`full`).
"""

import torch


def full(tensor):
    """The whole tensor of a DTensor (a collective: every process must call it); a plain tensor
    as it is."""
    from torch.distributed.tensor import DTensor

    # isinstance, not hasattr: torch.compile (the compiled forward under jit_compile=True)
    # answers hasattr(<DTensor>, "full_tensor") with False while tracing.
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def distribution_of(model):
    """The distribution whose layout ``model``'s weights now have: the ``ModelParallel`` that
    made them DTensors, or the ``FullyShardedDataParallel`` that made FSDP units of its modules;
    None for a model whose weights are whole on each process."""
    # Kept on the model itself (as torch keeps FSDP's state on the module): it goes with the
    # model, and a copy or another model is never taken for a sharded one.
    return getattr(model, "_plait_sharded", None)


def mesh_of(model):
    """The device mesh of ``model``'s DTensor weights under ``ModelParallel``, or None (not
    sharded, or sharded by FSDP, which keeps its mesh in its units)."""
    return getattr(model, "_plait_mesh", None)


def sharded_by_fsdp(model):
    """Whether ``model``'s modules are FSDP units (``FullyShardedDataParallel``)."""
    return distribution_of(model) is not None and mesh_of(model) is None


def _placements(layout, spec, mesh_axes, where):
    from torch.distributed.tensor import Replicate, Shard

    axes = layout.axes
    if len(axes) != len(spec.keras_shape):
        raise ValueError(
            f"The layout {axes} of weight '{where}' has {len(axes)} axes, but the weight has shape "
            f"{spec.keras_shape} ({len(spec.keras_shape)} axes)."
        )
    mesh = layout.device_mesh
    for axis, size in zip(axes, spec.keras_shape):
        devices = mesh.shape[mesh.axis_names.index(axis)] if axis is not None else 1
        if size % devices:
            raise ValueError(
                f"Weight '{where}' of shape {spec.keras_shape} cannot be sharded as {axes}: its dimension of size "
                f"{size} does not divide over the {devices} devices of mesh axis '{axis}'."
            )
    # The layout is in Keras's shape; the weight may be stored permuted (stored dim d = Keras dim perm[d]).
    stored_axes = axes if spec.perm is None else [axes[spec.perm[d]] for d in range(len(axes))]
    placements = [Replicate()] * len(mesh_axes)
    for dim, axis in enumerate(stored_axes):
        if axis is not None:
            placements[mesh_axes.index(axis)] = Shard(dim)
    return placements


def distribute_model(model, distribution):
    """Turn ``model``'s weights into DTensors per ``distribution.layout_map`` (once)."""
    if distribution_of(model) is distribution:
        return
    from torch.distributed.tensor import Replicate, distribute_tensor

    layout_map = distribution.layout_map
    mesh = distribution.device_mesh.backend_mesh
    mesh_axes = list(distribution.device_mesh.axis_names)
    if distribution.num_model_replicas > 1:
        # Data and model parallel: the weights live on the sub-mesh of the model axes (each
        # replica along the batch axis holds its own copy of the shards); the batch is split
        # over the batch axis and the gradients summed over it (collectives.average_gradients).
        batch_axis = distribution.batch_dim_name
        named = sorted({k for k in layout_map if batch_axis in layout_map[k].axes})
        if named:
            raise ValueError(
                f"LayoutMap key(s) {named} shard a weight over the batch axis '{batch_axis}', whose size is "
                f"{distribution.num_model_replicas}: weights are sharded over the model axes only (the batch axis "
                "splits the data). Use FullyShardedDataParallel to shard every weight over the data processes."
            )
        mesh_axes = [a for a in mesh_axes if a != batch_axis]
        mesh = mesh[tuple(mesh_axes)]
    entries = model.weight_entries()
    paths = [f"{layer.name}/{spec.name}" for layer, spec in entries]
    unused = [key for key in layout_map if not any(key == p or _fullmatch(key, p) for p in paths)]
    if unused:
        raise ValueError(f"LayoutMap key(s) {unused} name no weight of model '{model.name}'. Weight paths: {paths}")
    done = set()
    for (layer, spec), path in zip(entries, paths):
        tensor = spec.get(layer)
        layout = layout_map[path]
        placements = [Replicate()] * len(mesh_axes) if layout is None else _placements(layout, spec, mesh_axes, path)
        value = distribute_tensor(tensor.detach(), mesh, placements)
        owner_path, _, attr = spec.attr.rpartition(".")
        owner = layer.get_submodule(owner_path) if owner_path else layer
        if isinstance(tensor, torch.nn.Parameter):
            setattr(owner, attr, torch.nn.Parameter(value, requires_grad=tensor.requires_grad))
        else:
            owner.register_buffer(attr, value)
        done.add(id(tensor))
    # Weights outside the entries (a wrapped torch module's extras) are replicated too: a layer
    # cannot mix DTensors and plain tensors.
    for module in model.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            if not hasattr(p, "full_tensor"):
                setattr(
                    module,
                    name,
                    torch.nn.Parameter(
                        distribute_tensor(p.detach(), mesh, [Replicate()] * len(mesh_axes)), p.requires_grad
                    ),
                )
    model._plait_sharded = distribution
    model._plait_mesh = mesh
    model.register_forward_pre_hook(_inputs_hook)
    model.register_forward_hook(_outputs_hook)


def fully_shard_model(model, distribution):
    """FullyShardedDataParallel: make every module of ``model`` that owns weights an FSDP unit
    (``torch.distributed.fsdp.fully_shard``, innermost first), once.

    The units average their gradients over the N processes (FSDP's default reduction, which
    gloo also runs): the step scales each process's loss by N times its share of the global
    batch (``collectives.loss_scale``), so the average is the global batch's gradient. The root is
    not wrapped unless it owns weights itself: the training step runs the model's generated
    forward, which calls each layer through ``nn.Module.__call__`` (so FSDP's hooks gather and
    free the unit's weights), or ``call_logits``, which is registered as an FSDP forward method
    too. FSDP subclasses each wrapped module (``FSDPDense``); the subclass keeps the layer's
    class name, so saving writes ``"Dense"``.
    """
    if distribution_of(model) is distribution:
        return
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    mesh = distribution.device_mesh.backend_mesh
    units = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    for module in reversed(units):
        cls = type(module)
        fully_shard(module, mesh=mesh, reshard_after_forward=distribution.reshard_after_forward)
        type(module).__name__, type(module).__qualname__ = cls.__name__, cls.__qualname__
        if callable(getattr(module, "call_logits", None)):
            register_fsdp_forward_method(module, "call_logits")
    model._plait_sharded = distribution


def _fullmatch(pattern, path):
    import re

    return re.fullmatch(pattern, path) is not None


def replicate(tensor, mesh):
    """A tensor every process holds whole, as a replicated DTensor."""
    from torch.distributed.tensor import DTensor, Replicate

    if not isinstance(tensor, torch.Tensor) or isinstance(tensor, DTensor):
        return tensor
    return DTensor.from_local(tensor, mesh, [Replicate()] * mesh.ndim, run_check=False)


def local(value):
    """Outputs back to plain tensors (whole), any structure."""
    if isinstance(value, (list, tuple)):
        return type(value)(local(v) for v in value)
    if isinstance(value, dict):
        return {k: local(v) for k, v in value.items()}
    return full(value)


def wrap_forward(model, forward):
    """The training step's forward with DTensor inputs and plain outputs (identity for a model
    that is not sharded)."""
    mesh = mesh_of(model)
    if mesh is None:
        return forward

    def sharded_forward(xs):
        out, masks = forward([replicate(x, mesh) for x in xs])
        return local(out), (None if masks is None else local(masks))

    return sharded_forward


def _inputs_hook(model, args):
    return tuple(replicate(a, mesh_of(model)) for a in args)


def _outputs_hook(model, args, output):
    return local(output)
