"""Hinge metrics: the streaming means of ``hinge``, ``squared_hinge`` and ``categorical_hinge``."""

from plait.losses import categorical_hinge, hinge, squared_hinge
from plait.metrics.reduction import mean_metric_class

Hinge = mean_metric_class("Hinge", hinge)
SquaredHinge = mean_metric_class("SquaredHinge", squared_hinge)
CategoricalHinge = mean_metric_class("CategoricalHinge", categorical_hinge)
