"""Search spaces, their architectures as graphs, and parameter remapping."""

from dassgnn.space.arch import WIDTH_DENOMINATOR, Arch
from dassgnn.space.base import (
    ARCH_FEATURES,
    SPACES,
    BaseSpace,
    GraphSchema,
    SearchSpace,
    as_space,
    create_space,
    list_spaces,
    register_space,
    space_from_dict,
    space_key,
    space_settings,
)
from dassgnn.space.derive import (
    UnsupportedModuleError,
    classifier_head,
    classifier_shape,
    state_dict_shape,
)
from dassgnn.space.graph import (
    EDGE_TYPES,
    NODE_FEATURES,
    NUM_NODE_FEATURES,
    OPS,
    resnet_to_graph,
    resnet_to_networkx,
)
from dassgnn.space.modules import BasicBlock, ChannelShortcut, ResNet
from dassgnn.space.remap import REMAP_STRATEGIES, list_remap_strategies, remap, remap_state_dict
from dassgnn.space.resnet import ResNetSpace
from dassgnn.space.torchvision import TorchvisionResNetSpace, remap_tv_state_dict
from dassgnn.space.tv_modules import TVBasicBlock, TVResNet

__all__ = [
    "ARCH_FEATURES",
    "EDGE_TYPES",
    "NODE_FEATURES",
    "NUM_NODE_FEATURES",
    "OPS",
    "REMAP_STRATEGIES",
    "SPACES",
    "WIDTH_DENOMINATOR",
    "Arch",
    "BaseSpace",
    "BasicBlock",
    "ChannelShortcut",
    "GraphSchema",
    "ResNet",
    "ResNetSpace",
    "SearchSpace",
    "TVBasicBlock",
    "TVResNet",
    "TorchvisionResNetSpace",
    "UnsupportedModuleError",
    "as_space",
    "classifier_head",
    "classifier_shape",
    "create_space",
    "list_remap_strategies",
    "list_spaces",
    "register_space",
    "remap",
    "remap_state_dict",
    "remap_tv_state_dict",
    "resnet_to_graph",
    "resnet_to_networkx",
    "space_from_dict",
    "space_key",
    "space_settings",
    "state_dict_shape",
]
