"""Module and Parameter: registration, walking the tree, modes, devices, state dicts, printing,
the containers, and an MLP that learns."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import minimm
import minimm.nn as nn
import minimm.nn.functional as F
from minimm.nn.utils import count_parameters


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.scale = nn.Parameter(minimm.ones(4))
        self.register_buffer("steps", minimm.zeros(1, dtype=minimm.int64))
        self.register_buffer("cache", minimm.zeros(2), persistent=False)
        self.plain = 5  # not a tensor: an ordinary attribute

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.head(self.block(x))


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(minimm.zeros(2, 3))
    assert isinstance(p, minimm.Tensor) and p.requires_grad and p.is_leaf
    assert not nn.Parameter(minimm.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:")


def test_registration_by_attribute_assignment():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["block.scale", "block.fc.weight", "block.fc.bias", "head.weight"]
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.cache"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.act", "head"]
    assert len(list(net.modules())) == 5 and len(list(net.children())) == 2
    assert net.block.plain == 5 and "plain" not in dict(net.named_parameters())
    assert net.get_submodule("block.fc") is net.block.fc
    with pytest.raises(TypeError, match="Parameter"):
        net.block.scale = minimm.ones(4)  # a plain tensor cannot silently replace a parameter
    with pytest.raises(AttributeError, match="nope"):
        net.nope


def test_shared_parameters_are_listed_once():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    assert count_parameters(seq) == 6


def test_count_parameters_trainable_only():
    net = Net()
    total = 4 + 3 * 4 + 4 + 4 * 2
    assert count_parameters(net) == total
    net.block.requires_grad_(False)
    assert count_parameters(net) == 8
    assert count_parameters(net, trainable_only=False) == total
    net.requires_grad_(True)
    assert count_parameters(net) == total


def test_train_eval_and_apply():
    net = Net()
    assert net.training and net.block.fc.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Tanh", "Block", "Linear", "Net"]  # children first, like PyTorch


def test_zero_grad_to_none_or_zeros(device):
    net = Net().to(device)
    net(minimm.randn(5, 3, device=device)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad.device == minimm.device(device)
        assert np.all(p.grad.numpy() == 0)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_moves_params_grads_and_buffers_in_place():
    net = Net()
    net(minimm.randn(5, 3)).sum().backward()
    params_before = list(net.parameters())
    grads = {id(p): p.grad.numpy().copy() for p in params_before}
    values = {id(p): p.detach().numpy().copy() for p in params_before}
    net.to("strict")
    params_after = list(net.parameters())
    assert all(a is b for a, b in zip(params_before, params_after))  # same objects
    for p in params_after:
        assert p.device == minimm.device("strict")
        assert p.grad.device == minimm.device("strict")
        np.testing.assert_array_equal(p.grad.numpy(), grads[id(p)])
        np.testing.assert_array_equal(p.detach().numpy(), values[id(p)])
    assert all(b.device == minimm.device("strict") for b in net.buffers())
    # training continues on the new device
    net.zero_grad()
    net(minimm.randn(5, 3, device="strict")).sum().backward()
    assert net.head.weight.grad.device == minimm.device("strict")
    net.cpu()
    assert net.head.weight.device == minimm.device("cpu")


def test_to_dtype_casts_floating_params_not_integer_buffers():
    net = Net().double()
    assert all(p.dtype == minimm.float64 for p in net.parameters())
    assert net.block.steps.dtype == minimm.int64
    net.to(minimm.float32)
    assert all(p.dtype == minimm.float32 for p in net.parameters())


def test_state_dict_contents_and_round_trip_is_exact(device):
    net = Net().to(device)
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["block.scale", "block.steps", "block.fc.weight", "block.fc.bias", "head.weight"]
    assert all(not t.requires_grad for t in sd.values())  # detached; non-persistent cache left out
    other = Net().to(device)
    assert not np.array_equal(other.head.weight.detach().numpy(), net.head.weight.detach().numpy())
    result = other.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
        assert v.dtype == sd[k].dtype and v.device == sd[k].device
    x = minimm.randn(4, 3, device=device)
    np.testing.assert_array_equal(other(x).detach().numpy(), net(x).detach().numpy())
    # loading copies: changing the source afterwards does not change the loaded model
    with minimm.no_grad():
        net.head.weight[0, 0] = 123.0
    assert other.head.weight[0, 0].item() != 123.0


def test_load_state_dict_across_devices():
    src = Net()
    dst = Net().to("strict")
    dst.load_state_dict(src.state_dict())
    assert dst.head.weight.device == minimm.device("strict")
    np.testing.assert_array_equal(dst.head.weight.detach().numpy(), src.head.weight.detach().numpy())


def test_strict_loading_lists_every_problem_and_changes_nothing():
    net = Net()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    sd = Net().state_dict()
    del sd["block.fc.bias"]
    del sd["head.weight"]
    sd["extra.weight"] = minimm.zeros(2)
    sd["block.fc.weight"] = minimm.zeros(5, 3)
    sd["block.scale"] = minimm.zeros(4, dtype=minimm.float64)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    for key in ["block.fc.bias", "head.weight", "extra.weight", "block.fc.weight", "block.scale"]:
        assert key in msg
    assert "missing" in msg and "unexpected" in msg and "(5, 3)" in msg and "float64" in msg
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_non_strict_loading_returns_the_key_lists():
    net = Net()
    sd = Net().state_dict()
    del sd["head.weight"]
    sd["bogus"] = minimm.zeros(1)
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["head.weight"] and res.unexpected_keys == ["bogus"]
    np.testing.assert_array_equal(net.block.fc.weight.detach().numpy(), sd["block.fc.weight"].numpy())
    sd["block.fc.bias"] = minimm.zeros(7)  # shape mismatches raise even when not strict
    with pytest.raises(RuntimeError, match="block.fc.bias"):
        net.load_state_dict(sd, strict=False)


def test_load_state_dict_accepts_numpy_arrays():
    net = Net()
    sd = {k: v.numpy().copy() for k, v in Net().state_dict().items()}
    net.load_state_dict(sd)
    np.testing.assert_array_equal(net.head.weight.detach().numpy(), sd["head.weight"])


def test_repr_is_nested_like_pytorch():
    assert repr(nn.Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
    assert repr(nn.ReLU()) == "ReLU()"
    expected = (
        "Net(\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=4, bias=True)\n"
        "    (act): Tanh()\n"
        "  )\n"
        "  (head): Linear(in_features=4, out_features=2, bias=False)\n"
        ")"
    )
    assert repr(Net()) == expected


def test_sequential_indexing_slicing_and_ordered_dict():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    sub = seq[:2]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[0] is seq[0]
    x = minimm.randn(4, 2)
    np.testing.assert_allclose(seq(x).detach().numpy(), seq[2](seq[1](seq[0](x))).detach().numpy())
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.Sigmoid())]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4
    with pytest.raises(IndexError):
        seq[10]


def test_module_list_and_dict_register_their_members():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(list(ml.parameters())) == 6 and len(ml) == 3
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and [n for n, _ in ml.named_children()][-1] == "3"
    del ml[0]
    assert len(ml) == 3 and [n for n, _ in ml.named_parameters()][0] == "0.weight"
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert "a" in md and list(md.keys()) == ["a", "b"] and len(list(md.parameters())) == 2
    md["c"] = nn.Linear(1, 2)
    assert len(list(md.parameters())) == 4


def test_identity_and_flatten(device):
    x = minimm.randn(2, 3, 4, device=device)
    assert nn.Identity(54, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)


def test_mlp_trains_to_95_percent_on_separable_data(device):
    minimm.manual_seed(0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2)).astype(np.float32)
    w_true = np.array([1.5, -2.0], dtype=np.float32)
    y = (X @ w_true + 0.3 > 0).astype(np.int64)
    Xt, yt = minimm.tensor(X, device=device), minimm.tensor(y, device=device)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)).to(device)
    lr = 0.5
    for _ in range(150):
        loss = F.cross_entropy(model(Xt), yt)
        model.zero_grad()
        loss.backward()
        with minimm.no_grad():
            for p in model.parameters():
                p.array = p.array - lr * p.grad.array  # plain SGD by hand
    acc = (model(Xt).argmax(dim=1) == yt).float().mean().item()
    assert acc >= 0.95, acc


def test_register_checks():
    m = nn.Module()
    with pytest.raises(KeyError):
        m.register_buffer("a.b", minimm.zeros(1))
    with pytest.raises(TypeError):
        m.register_parameter("w", minimm.zeros(1))
    with pytest.raises(NotImplementedError):
        m(1)
    m.register_parameter("w", None)
    assert list(m.parameters()) == [] and m.w is None


def test_deepcopy_gives_an_independent_model(device):
    import copy

    net = Net().to(device)
    twin = copy.deepcopy(net)
    assert isinstance(twin.head.weight, nn.Parameter) and twin.head.weight is not net.head.weight
    assert twin.head.weight.device == minimm.device(device)
    x = minimm.randn(2, 3, device=device)
    np.testing.assert_array_equal(twin(x).detach().numpy(), net(x).detach().numpy())
    with minimm.no_grad():
        twin.head.weight[0, 0] = 7.0
    assert net.head.weight[0, 0].item() != 7.0
