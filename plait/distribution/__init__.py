"""Training on several processes and devices: Keras 3's ``keras.distribution`` API on
``torch.distributed`` (see ``docs/distributed.md``)."""

from plait.distribution.distribution_lib import DataParallel as DataParallel
from plait.distribution.distribution_lib import DeviceMesh as DeviceMesh
from plait.distribution.distribution_lib import Distribution as Distribution
from plait.distribution.distribution_lib import FullyShardedDataParallel as FullyShardedDataParallel
from plait.distribution.distribution_lib import LayoutMap as LayoutMap
from plait.distribution.distribution_lib import ModelParallel as ModelParallel
from plait.distribution.distribution_lib import TensorLayout as TensorLayout
from plait.distribution.distribution_lib import distribution as distribution
from plait.distribution.distribution_lib import get_device_count as get_device_count
from plait.distribution.distribution_lib import initialize as initialize
from plait.distribution.distribution_lib import list_devices as list_devices
from plait.distribution.distribution_lib import set_distribution as set_distribution
from plait.distribution.tensors import distribute_tensor as distribute_tensor

__all__ = [
    "DataParallel",
    "DeviceMesh",
    "Distribution",
    "FullyShardedDataParallel",
    "LayoutMap",
    "ModelParallel",
    "TensorLayout",
    "distribute_tensor",
    "distribution",
    "get_device_count",
    "initialize",
    "list_devices",
    "set_distribution",
]
