import torch

from dassgnn.space import BasicBlock, ChannelShortcut, ResNet


def test_channel_shortcut():
    x = torch.randn(2, 4, 5, 5)
    pad = ChannelShortcut(4, 6, stride=2)
    out = pad(x)
    assert out.shape == (2, 6, 3, 3)
    assert torch.equal(out[:, 4:], torch.zeros(2, 2, 3, 3))
    assert torch.equal(out[:, :4, 0, 0], x[:, :, :2, :2].amax(dim=(-1, -2)))
    drop = ChannelShortcut(4, 3)
    assert torch.equal(drop(x), x[:, :3])
    assert ChannelShortcut(4, 4).is_identity and not drop.is_identity
    assert str(pad) == "ChannelShortcut(4, 6, stride=2)"
    assert list(pad.parameters()) == []


def test_basic_block():
    block = BasicBlock(4, 8, stride=2)
    assert str(block) == "BasicBlock(4, 8, stride=2)"
    out = block(torch.randn(3, 4, 9, 9))
    assert out.shape == (3, 8, 5, 5)
    assert (out >= 0).all()


def test_resnet_shapes_and_features():
    net = ResNet(((4, 6), (8,)), (1, 2), num_classes=5, in_channels=1)
    assert str(net) == "ResNet(depths=(2,1), in_channels=1, num_classes=5)"
    x = torch.randn(2, 1, 16, 16)
    assert net(x).shape == (2, 5)
    feats = net.features(x)
    assert [tuple(f.shape) for f in feats] == [(2, 4, 16, 16), (2, 6, 16, 16), (2, 8, 8, 8)]
    assert net.stem.conv.out_channels == 4  # the stem has the width of the first block
