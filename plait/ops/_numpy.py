"""The implementations behind :mod:`plait.ops.numpy`, gathered in one namespace.

They live by theme: :mod:`~plait.ops._elementwise` (the table of element-wise ops and their
dtype rules), :mod:`~plait.ops._reductions`, :mod:`~plait.ops._creation`,
:mod:`~plait.ops._linear` (products and divisions) and :mod:`~plait.ops._arrays` (shapes,
indexing, sorting, the rest). Dtype promotion is :mod:`~plait.ops._dtypes`.

Example:
    >>> from plait.ops import _numpy
    >>> _numpy.add([1, 2], 0.5), _numpy.sum([[1, 2], [3, 4]], axis=1)
    (tensor([1.5000, 2.5000]), tensor([3, 7], dtype=torch.int32))
"""

from plait.ops import _arrays, _creation, _elementwise, _linear, _reductions


def _defined_in(module):
    return {
        name: value
        for name, value in vars(module).items()
        if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }


IMPLEMENTATIONS = {}
IMPLEMENTATIONS.update(_elementwise.OPS)
for _module in (_reductions, _creation, _linear, _arrays):
    IMPLEMENTATIONS.update(_defined_in(_module))
globals().update(IMPLEMENTATIONS)
