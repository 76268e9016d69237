"""Accuracy metrics: per-sample functions and their streaming classes (``BinaryAccuracy``, ...)."""

import functools

import torch

from plait.losses.functions import same_rank as _same_rank
from plait.metrics.metric import as_tensors
from plait.metrics.reduction import MeanMetricWrapper, mean_metric_class


def _arrays_in(fn):
    """``fn(y_true, y_pred, ...)`` on numpy arrays and lists too, as Keras's metric functions take them."""

    @functools.wraps(fn)
    def metric_function(y_true, y_pred, *args, **kwargs):
        return fn(*as_tensors(y_true, y_pred), *args, **kwargs)

    return metric_function


def _labels(y_true, y_pred):
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true


def _class_index(y_true):
    """The class each one-hot row marks; bool rows (e.g. numpy one-hot masks) too, as Keras's argmax casts them."""
    if y_true.dtype == torch.bool:
        y_true = y_true.to(torch.uint8)
    return y_true.argmax(dim=-1)


@_arrays_in
def accuracy(y_true, y_pred):
    """1.0 where ``y_true == y_pred``, element by element (Keras's shape: the inputs brought to the
    same rank, then broadcast)."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (y_true.to(y_pred.dtype) == y_pred).float()


@_arrays_in
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with ``y_true``, element by element (as Keras: no
    mean over the last axis).

    Example:
        >>> import torch
        >>> binary_accuracy(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.7], [0.6]]))
        tensor([[1.],
                [0.]])
    """
    y_true, y_pred = _same_rank(y_true, y_pred)
    return ((y_pred > threshold).to(y_true.dtype) == y_true).float()


@_arrays_in
def categorical_accuracy(y_true, y_pred):
    return (_class_index(y_true) == y_pred.argmax(dim=-1)).float()


@_arrays_in
def sparse_categorical_accuracy(y_true, y_pred):
    return (_labels(y_true, y_pred).long() == y_pred.argmax(dim=-1)).float()


@_arrays_in
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    top = y_pred.topk(min(k, y_pred.shape[-1]), dim=-1).indices
    return (top == _class_index(y_true).unsqueeze(-1)).any(dim=-1).float()


@_arrays_in
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1.0 where the integer label is among the ``k`` highest predictions; with
    ``from_sorted_ids`` ``y_pred`` already holds class ids, best first. Shaped like ``y_true``."""
    labels = y_true.reshape(-1).long()
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    top = scores[:, :k].long() if from_sorted_ids else scores.topk(min(k, scores.shape[-1]), dim=-1).indices
    return (top == labels.unsqueeze(-1)).any(dim=-1).float().reshape(y_true.shape)


Accuracy = mean_metric_class("Accuracy", accuracy)
BinaryAccuracy = mean_metric_class("BinaryAccuracy", binary_accuracy, threshold=0.5)
CategoricalAccuracy = mean_metric_class("CategoricalAccuracy", categorical_accuracy)
SparseCategoricalAccuracy = mean_metric_class("SparseCategoricalAccuracy", sparse_categorical_accuracy)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is among the ``k`` highest predictions. ``k`` comes first,
    as in Keras (``TopKCategoricalAccuracy(5, name="top-5-accuracy")``).

    Example:
        >>> import torch, plait
        >>> m = plait.metrics.TopKCategoricalAccuracy(1)
        >>> m.update_state(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
        >>> float(m.result())
        0.5
    """

    def __init__(self, k=5, name=None, dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name or "top_k_categorical_accuracy", dtype=dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is among the ``k`` highest predictions (``k`` first, as in
    Keras); ``from_sorted_ids``: predictions are class ids, best first."""

    def __init__(self, k=5, name=None, dtype=None, from_sorted_ids=False):
        super().__init__(
            sparse_top_k_categorical_accuracy,
            name=name or "sparse_top_k_categorical_accuracy",
            dtype=dtype,
            k=k,
            from_sorted_ids=from_sorted_ids,
        )

    def get_config(self):
        # As Keras writes it: `from_sorted_ids` only when it is on.
        config = super().get_config()
        if not config.get("from_sorted_ids"):
            config.pop("from_sorted_ids", None)
        return config
