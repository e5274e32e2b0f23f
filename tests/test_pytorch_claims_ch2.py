"""Claims chapter 2 makes about PyTorch: modules, data loading, losses on logits, gradients."""

import pickle

import pytest
import torch
from torch import nn


def _exact_bce_with_logits(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(-z)) for y = 1 and log(1 + exp(z)) for y = 0, computed stably in float64."""
    s = torch.where(y == 1, -z, z).double()
    return s.clamp(min=0) + torch.log1p(torch.exp(-s.abs()))


def test_bce_with_logits_equals_bce_of_sigmoid_where_both_are_finite():
    """For moderate logits, BCEWithLogitsLoss(z, y) == BCELoss(sigmoid(z), y)."""
    gen = torch.Generator().manual_seed(0)
    z = 10 * torch.rand(1000, generator=gen) - 5  # |z| <= 5: sigmoid is far from saturating
    y = torch.randint(0, 2, (1000,), generator=gen).float()
    fused = nn.BCEWithLogitsLoss(reduction="none")(z, y)
    two_step = nn.BCELoss(reduction="none")(torch.sigmoid(z), y)
    assert torch.isfinite(two_step).all()
    torch.testing.assert_close(fused, two_step, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("z", [20.0, 50.0, 200.0])
def test_sigmoid_then_bce_saturates_where_the_fused_loss_is_exact(z):
    """Float32 sigmoid(z) rounds to 1: BCELoss clamps log(0) to -100 and its gradient is 0."""
    y = torch.zeros(1)
    logit = torch.tensor([z], requires_grad=True)
    assert torch.sigmoid(logit).item() == 1.0
    two_step = nn.BCELoss()(torch.sigmoid(logit), y)
    (grad_two_step,) = torch.autograd.grad(two_step, logit)
    assert two_step.item() == 100.0
    assert grad_two_step.item() == 0.0

    logit = torch.tensor([z], requires_grad=True)
    fused = nn.BCEWithLogitsLoss()(logit, y)
    (grad_fused,) = torch.autograd.grad(fused, logit)
    torch.testing.assert_close(fused.double(), _exact_bce_with_logits(logit.detach(), y)[0])
    torch.testing.assert_close(grad_fused, torch.ones(1))  # sigmoid(z) - y


def test_sigmoid_then_bce_loses_precision_before_it_saturates():
    """At z = 10 the two-step loss is off by far more than float32 rounding; fused is not."""
    z, y = torch.tensor([10.0]), torch.zeros(1)
    exact = _exact_bce_with_logits(z, y)[0].item()
    two_step = nn.BCELoss()(torch.sigmoid(z), y).item()
    fused = nn.BCEWithLogitsLoss()(z, y).item()
    assert abs(two_step - exact) > 1e-4
    assert abs(fused - exact) < 1e-5


def test_gradients_accumulate_without_zero_grad():
    """A second backward without zeroing adds the same gradient again: exactly twice."""
    torch.manual_seed(0)
    layer = nn.Linear(2, 1)
    X, y = torch.randn(8, 2), torch.rand(8)

    def backward():
        nn.BCEWithLogitsLoss()(layer(X).squeeze(1), y).backward()

    backward()
    once = layer.weight.grad.clone()
    backward()
    assert torch.equal(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert layer.weight.grad is None  # set_to_none=True is the default
    backward()
    assert torch.equal(layer.weight.grad, once)


class _PlainList(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 4), nn.Linear(4, 1)]


class _WithModuleList(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 4), nn.Linear(4, 1)])


def test_plain_list_submodules_are_not_registered():
    """Layers in a plain list are invisible to parameters() and state_dict()."""
    model = _PlainList()
    assert list(model.parameters()) == []
    assert model.state_dict() == {}


def test_module_list_submodules_are_registered():
    """The same layers in an nn.ModuleList contribute all 4 tensors and 17 numbers."""
    model = _WithModuleList()
    assert len(list(model.parameters())) == 4
    assert sum(p.numel() for p in model.parameters()) == 2 * 4 + 4 + 4 * 1 + 1
    assert list(model.state_dict()) == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    ]


def test_linear_weight_is_out_by_in():
    """nn.Linear(in, out) stores weight as (out, in) and computes x @ W.T + b."""
    torch.manual_seed(0)
    layer = nn.Linear(2, 4)
    assert layer.weight.shape == (4, 2) and layer.bias.shape == (4,)
    x = torch.randn(5, 2)
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)


class _NotATensor:
    """An arbitrary Python object: unpickling it means running its class's code."""


def test_torch_load_refuses_arbitrary_objects_by_default_and_with_weights_only(tmp_path):
    """weights_only=True (the default since PyTorch 2.6) refuses pickled non-tensor objects."""
    path = tmp_path / "object.pt"
    torch.save({"w": torch.ones(2), "extra": _NotATensor()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    state = tmp_path / "state.pt"
    torch.save(nn.Linear(2, 1).state_dict(), state)
    assert set(torch.load(state, weights_only=True)) == {"weight", "bias"}


def test_bce_with_logits_matches_the_stable_formula():
    """BCEWithLogitsLoss(z, y) == max(z, 0) - y z + log(1 + exp(-|z|)), averaged over the batch."""
    gen = torch.Generator().manual_seed(1)
    z = 30 * torch.randn(500, generator=gen)
    y = torch.randint(0, 2, (500,), generator=gen).float()
    formula = z.clamp(min=0) - y * z + torch.log1p(torch.exp(-z.abs()))
    torch.testing.assert_close(nn.BCEWithLogitsLoss()(z, y), formula.mean())


def test_dataloader_batches_shapes_drop_last_and_seeded_shuffle():
    """Batches stack to (B, 2) and (B,); drop_last skips the short batch; a seed fixes the order."""
    X, y = torch.randn(2500, 2), torch.arange(2500)
    ds = torch.utils.data.TensorDataset(X, y)
    loader = torch.utils.data.DataLoader(ds, batch_size=128)
    sizes = [len(b) for _, b in loader]
    assert len(sizes) == 20 and sizes[-1] == 2500 - 19 * 128
    xb, yb = next(iter(loader))
    assert xb.shape == (128, 2) and yb.shape == (128,)
    dropped = torch.utils.data.DataLoader(ds, batch_size=128, drop_last=True)
    assert len(dropped) == 19 and all(len(b) == 128 for _, b in dropped)

    def order(seed=None, gen=None):
        gen = gen or torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, generator=gen)
        return torch.cat([b for _, b in loader])

    gen = torch.Generator().manual_seed(3)
    first, second = order(gen=gen), order(gen=gen)
    assert not torch.equal(first, second)  # a new order on every pass
    assert torch.equal(first, order(seed=3))  # the same seed, the same order
    assert torch.equal(first.sort().values, y)  # every sample exactly once


def test_optimizer_zero_grad_sets_gradients_to_none_and_backward_changes_no_weight():
    """backward() only fills .grad; optimizer.zero_grad() then sets it to None (the default)."""
    torch.manual_seed(0)
    layer = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    nn.BCEWithLogitsLoss()(layer(torch.randn(8, 2)).squeeze(1), torch.rand(8)).backward()
    assert layer.weight.grad is not None
    assert torch.equal(layer.weight, before)
    optimizer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


class _MixedModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(2, 4)  # registered
        self.rest = [nn.Linear(4, 1)]  # a plain list: not registered

    def forward(self, x):
        return self.rest[0](torch.tanh(self.first(x)))


def test_a_layer_in_a_plain_list_is_silently_left_out():
    """Next to registered layers, a listed one raises no error but is never trained or moved."""
    torch.manual_seed(0)
    model = _MixedModule()
    listed = model.rest[0]
    before = listed.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # no error: one layer is registered
    first_before = model.first.weight.detach().clone()
    loss = nn.BCEWithLogitsLoss()(model(torch.randn(16, 2)).squeeze(1), torch.rand(16))
    loss.backward()
    optimizer.step()
    assert not torch.equal(model.first.weight, first_before)  # the registered layer learned
    assert torch.equal(listed.weight, before)  # the listed one did not
    model.to(torch.float64)  # .to() converts (and moves) registered parameters only
    assert model.first.weight.dtype == torch.float64
    assert listed.weight.dtype == torch.float32


# --- "When things go wrong": what plain PyTorch does with three wiring mistakes ---------------


def test_plain_bce_trains_on_a_label_of_2_without_complaint():
    """BCEWithLogitsLoss takes a target of 2 and returns a finite loss and gradients."""
    import torch
    from torch import nn

    logits = torch.zeros(3, requires_grad=True)
    loss = nn.BCEWithLogitsLoss()(logits, torch.tensor([0.0, 1.0, 2.0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_an_optimizer_of_other_parameters_never_changes_the_model():
    """step() updates only the tensors the optimizer holds; the model's stay as they were."""
    import copy

    import torch
    from torch import nn

    old = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(old.parameters(), lr=0.1)
    new = copy.deepcopy(old)
    before = [p.detach().clone() for p in new.parameters()]
    new(torch.randn(4, 2)).sum().backward()
    optimizer.step()  # no error
    assert all(torch.equal(a, b) for a, b in zip(before, new.parameters(), strict=True))


def test_a_generator_of_batches_is_empty_after_one_pass():
    """A generator expression yields its batches once; a second loop over it does nothing."""
    import torch

    X = torch.randn(10, 2)
    batches = (X[i : i + 5] for i in range(0, 10, 5))
    assert len(list(batches)) == 2
    assert len(list(batches)) == 0


# --- the validation split, the loaders and evaluation --------------------------------------


def test_random_split_is_disjoint_complete_and_fixed_by_its_generator():
    """random_split gives Subsets of indices: no sample twice, all used, the same for a seed."""
    data = torch.utils.data.TensorDataset(torch.arange(2500))

    def split(seed):
        gen = torch.Generator().manual_seed(seed)
        return torch.utils.data.random_split(data, [2000, 500], generator=gen)

    train, val = split(3)
    assert isinstance(train, torch.utils.data.Subset) and (len(train), len(val)) == (2000, 500)
    assert sorted(train.indices + val.indices) == list(range(2500))
    assert train.indices == split(3)[0].indices
    assert train.indices != split(4)[0].indices
    assert val[0][0].item() == val.indices[0]  # a Subset indexes into the dataset


def test_a_loader_over_a_subset_yields_the_subsets_tensors_in_the_same_order():
    """DataLoader over Subset(data, idx) batches exactly as one over the tensors data[idx]."""
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(300, 2, generator=gen), torch.randint(0, 2, (300,), generator=gen)
    subset = torch.utils.data.Subset(torch.utils.data.TensorDataset(X, y), list(range(0, 300, 2)))
    tensors = torch.utils.data.TensorDataset(X[subset.indices], y[subset.indices])

    def batches(dataset):
        gen = torch.Generator().manual_seed(1)
        loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True, generator=gen)
        return [b for _ in range(2) for b in loader]  # two passes, two orders

    for (Xa, ya), (Xb, yb) in zip(batches(subset), batches(tensors), strict=True):
        assert torch.equal(Xa, Xb) and torch.equal(ya, yb)


def test_every_pass_over_a_shuffled_loader_draws_from_its_generator():
    """An extra pass (say, to evaluate) changes the orders of all later passes."""
    data = torch.utils.data.TensorDataset(torch.arange(100))

    def orders(extra_pass):
        gen = torch.Generator().manual_seed(1)
        loader = torch.utils.data.DataLoader(data, batch_size=10, shuffle=True, generator=gen)
        first = torch.cat([b for (b,) in loader])
        if extra_pass:
            list(loader)
        return first, torch.cat([b for (b,) in loader])

    plain, with_extra = orders(False), orders(True)
    assert torch.equal(plain[0], with_extra[0])
    assert not torch.equal(plain[1], with_extra[1])


def test_sequential_registers_and_runs_its_layers_in_order():
    """nn.Sequential registers every layer and applies them one after the other."""
    torch.manual_seed(0)
    first, second = nn.Linear(2, 4), nn.Linear(4, 1)
    model = nn.Sequential(first, nn.Tanh(), second)
    assert sum(p.numel() for p in model.parameters()) == 17
    x = torch.randn(5, 2)
    torch.testing.assert_close(model(x), second(torch.tanh(first(x))))


def test_an_optimizer_over_no_parameters_is_refused():
    """torch.optim.SGD of an empty parameter list raises a ValueError."""
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD([], lr=0.1)


def test_no_grad_records_no_graph():
    """Under torch.no_grad() the outputs of a module carry no graph and need no gradient."""
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        out = layer(torch.randn(3, 2))
    assert out.grad_fn is None and not out.requires_grad
    assert layer(torch.randn(3, 2)).grad_fn is not None


def test_float32_sigmoid_reaches_exactly_one_between_16_and_17_5():
    """sigmoid(z) rounds to 1.0 in float32 from z of about 16.6 on, and stays there."""
    zs = torch.arange(0, 3000) / 100
    saturated = torch.sigmoid(zs) == 1.0
    first = int(saturated.nonzero()[0])
    assert 16 < zs[first] < 17.5
    assert saturated[first:].all() and not saturated[:first].any()


def test_a_dead_relu_unit_passes_no_gradient():
    """A ReLU unit whose input is negative for every sample gets zero gradients."""
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.fill_(0.0)
        layer.bias.fill_(-1.0)  # input -1 for every sample: the unit is dead
    torch.relu(layer(torch.randn(16, 2))).sum().backward()
    assert torch.equal(layer.weight.grad, torch.zeros(1, 2))
    assert torch.equal(layer.bias.grad, torch.zeros(1))


class _CountingDataset(torch.utils.data.Dataset):
    """A map-style dataset that counts the calls of its __getitem__."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        return torch.tensor([float(i), 0.0]), torch.tensor(i % 2)


def test_a_dataloader_calls_getitem_once_per_sample_and_stacks_the_results():
    """One pass with batches of 16 over 100 samples: 100 calls, batches stacked to (16, 2)."""
    data = _CountingDataset(100)
    subset = torch.utils.data.Subset(data, list(range(100)))  # as random_split returns
    batches = list(torch.utils.data.DataLoader(subset, batch_size=16))
    assert data.calls == 100
    assert batches[0][0].shape == (16, 2) and batches[0][1].shape == (16,)
    assert len(batches) == 7 and len(batches[-1][1]) == 100 - 6 * 16


def test_train_and_eval_modes_change_dropout_but_not_linear_and_tanh():
    """model.eval() matters for dropout; a Linear-Tanh network computes the same in both modes."""
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    dropout = nn.Dropout(0.5)
    assert not torch.equal(dropout.train()(x), x)
    assert torch.equal(dropout.eval()(x), x)
    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
    assert torch.equal(net.train()(x), net.eval()(x))
