"""Architecture <-> JSON: layers by class name and config, graphs by their nodes.

The layer-level primitives (class lookup, function references, torch modules, ``layer_to_config``
/ ``layer_from_config``) live in :mod:`plait.layers.serialization`, below the layers that use
them; models install how their graphs are written (:mod:`plait.models.serialization`), so saving
never imports them.

Nothing here imports or evaluates code named by a file: a class name is looked up in plait's
own layers, the classes registered with :func:`register_serializable`, ``custom_objects``, or
(for plain torch modules) the ``torch.nn`` namespace; anything else is refused.

A functional model is stored as its layers plus its nodes in run order. Each node names its
layer and its arguments, where a tensor is ``{"node": i, "index": k}`` (output ``k`` of the
``i``-th node) so rebuilding is one pass over the list, calling each layer on symbolic tensors.
"""

from plait.layers.serialization import (
    build_torch_module,
    class_name,
    function_reference,
    layer_from_config,
    layer_to_config,
    loading,
    register_serializable,
    resolve_class,
    resolve_function,
    torch_module_config,
)

__all__ = [
    "build_torch_module",
    "class_name",
    "function_reference",
    "layer_from_config",
    "layer_to_config",
    "loading",
    "register_serializable",
    "resolve_class",
    "resolve_function",
    "torch_module_config",
]
