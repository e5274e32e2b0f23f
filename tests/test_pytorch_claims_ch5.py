"""Every claim chapter 5 makes about PyTorch's schedulers, losses, loaders, float32 sums,
eval mode, softmax and tanh units."""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnbook.models import MLP


def test_linear_lr_follows_the_straight_line_formula():
    """LinearLR(1.0 -> 0.01 over T) sets lr_e = lr (1 + (0.01 - 1) min(e, T) / T) in epoch e."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.005)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.01, total_iters=1000)
    seen = []
    for _ in range(1005):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    e = torch.arange(1005, dtype=torch.float64)
    expected = 0.005 * (1 + (0.01 - 1) * torch.clamp(e, max=1000) / 1000)
    torch.testing.assert_close(torch.tensor(seen, dtype=torch.float64), expected)
    assert seen[-1] == seen[1000] and abs(seen[1000] - 0.005 * 0.01) < 1e-12


def test_summed_loss_gradient_is_batch_size_times_mean():
    """With reduction='sum' a batch of 50 gives exactly 50 times the gradient of the mean."""
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(50, 2, generator=gen), torch.randint(0, 3, (50,), generator=gen)
    grads = {}
    for reduction in ("sum", "mean"):
        layer = nn.Linear(2, 3)
        with torch.no_grad():
            layer.weight.copy_(torch.arange(6.0).reshape(3, 2) / 10)
            layer.bias.zero_()
        nn.CrossEntropyLoss(reduction=reduction)(layer(X), y).backward()
        grads[reduction] = layer.weight.grad
    torch.testing.assert_close(grads["sum"], 50 * grads["mean"])


def test_iterating_a_shuffled_loader_draws_from_its_generator():
    """Every pass over DataLoader(shuffle=True, generator=g), even for evaluation, advances g."""
    data = TensorDataset(torch.arange(10.0))
    gen = torch.Generator().manual_seed(2100)
    loader = DataLoader(data, batch_size=5, shuffle=True, generator=gen)
    before = gen.get_state()
    for _ in loader:
        pass
    assert not torch.equal(before, gen.get_state())
    fresh = torch.Generator().manual_seed(2100)
    first = [b[0] for b in DataLoader(data, batch_size=10, shuffle=True, generator=fresh)]
    second = [b[0] for b in DataLoader(data, batch_size=10, shuffle=True, generator=fresh)]
    assert not torch.equal(first[0], second[0])  # the next pass is shuffled differently


def test_nextafter_is_one_unit_in_the_last_place():
    """torch.nextafter moves a float32 by one ulp: 2**(exponent - 23), the smallest step there."""
    w = torch.tensor(0.3, dtype=torch.float32)
    up = torch.nextafter(w, torch.tensor(torch.inf))
    assert up > w
    torch.testing.assert_close(up - w, torch.tensor(2.0**-25), rtol=0, atol=0)  # 0.3 in [1/4, 1/2)


def test_float32_sums_depend_on_the_order():
    """Summing the same float32 numbers in a different order can change the last digits."""
    terms = torch.randn(50, generator=torch.Generator().manual_seed(0))
    by_hand = torch.zeros(())
    for t in terms:
        by_hand = by_hand + t
    assert terms.sum().item() != by_hand.item()
    exact = terms.double().sum().item()
    assert abs(terms.sum().item() - exact) < 1e-5 and abs(by_hand.item() - exact) < 1e-5


def test_vmap_functional_call_equals_a_loop_over_weights():
    """vmap over functional_call with stacked weights equals running each weight set in turn."""
    torch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3)) for _ in range(4)]
    stacked = {k: torch.stack([m.state_dict()[k] for m in models]) for k in models[0].state_dict()}
    X = torch.rand(100, 2) * 16

    def forward(params, X):
        return torch.func.functional_call(models[0], params, (X,))

    with torch.no_grad():
        batched = torch.vmap(forward, in_dims=(0, None))(stacked, X)  # (4, 100, 3)
        looped = torch.stack([m(X) for m in models])
    torch.testing.assert_close(batched, looped, rtol=0, atol=0)


def test_eval_mode_changes_only_dropout_and_batch_norm():
    """The MLP computes the same in train and eval mode; dropout and batch norm do not."""
    torch.manual_seed(0)
    X = torch.randn(64, 2)
    model = MLP(2, 8, 3)
    torch.testing.assert_close(model.train()(X), model.eval()(X), rtol=0, atol=0)
    for layer in (nn.Dropout(0.5), nn.BatchNorm1d(2)):
        trained = layer.train()(X)
        assert not torch.equal(trained, layer.eval()(X)), f"{layer} is the same in both modes"


def test_a_points_logits_do_not_depend_on_its_batch():
    """In a batch of 50 or of 2000, shuffled or not, a point gets its logits to float32 rounding."""
    torch.manual_seed(0)
    X = 16 * torch.rand(2000, 2)
    model = MLP(2, 8, 3).eval()
    whole = model(X)
    order = torch.randperm(2000)
    in_batches = torch.cat([model(X[order[i : i + 50]]) for i in range(0, 2000, 50)])
    torch.testing.assert_close(in_batches, whole[order])  # float32 tolerances


def test_a_mean_loss_over_shuffled_batches_equals_the_whole_to_rounding():
    """Summed per-batch losses in a shuffled order give the whole set's loss to float32 rounding."""
    torch.manual_seed(0)
    X, y = 16 * torch.rand(2000, 2), torch.randint(0, 3, (2000,))
    model = MLP(2, 8, 3).eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    with torch.no_grad():
        whole = loss_fn(model(X), y) / 2000
        order = torch.randperm(2000)
        parts = [
            loss_fn(model(X[order[i : i + 50]]), y[order[i : i + 50]]) for i in range(0, 2000, 50)
        ]
    shuffled = torch.stack(parts).sum() / 2000
    assert abs(shuffled.item() - whole.item()) < 1e-5 * whole.item(), "more than float32 rounding"


def test_softmax_depends_only_on_logit_differences():
    """Adding the same number to every logit of a row leaves its softmax unchanged."""
    logits = torch.tensor([[2.0, -1.0, 0.5], [10.0, 9.0, -3.0]], dtype=torch.float64)
    shifted = logits + torch.tensor([[7.0], [-4.0]], dtype=torch.float64)
    torch.testing.assert_close(torch.softmax(shifted, dim=1), torch.softmax(logits, dim=1))


def test_a_dominant_logit_flattens_the_softmax():
    """With one logit far ahead, moving the logits barely moves the probabilities."""
    base = torch.tensor([6.0, 0.0, -1.0], dtype=torch.float64)
    moved = base + torch.tensor([0.5, -0.3, 0.2], dtype=torch.float64)  # differences move by ~0.8
    change = (torch.softmax(moved, 0) - torch.softmax(base, 0)).abs().max().item()
    assert change < 0.01, f"the probabilities moved by {change:.3f}"
    centred = torch.zeros(3, dtype=torch.float64)  # no class ahead: the same move shows
    change_centred = (torch.softmax(centred + moved - base, 0) - torch.softmax(centred, 0)).abs()
    assert change_centred.max().item() > 0.1, "without a dominant class the move should show"


def test_tanh_saturation_bounds_its_slope():
    """Where |tanh(z)| > 0.9, that is |z| > artanh(0.9) = 1.47, the slope 1 - tanh(z)**2 < 0.19."""
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64, requires_grad=True)
    h = torch.tanh(z)
    (slope,) = torch.autograd.grad(h.sum(), z)
    saturated = h.detach().abs() > 0.9
    assert torch.equal(saturated, z.detach().abs() > math.atanh(0.9)), "not |z| > artanh(0.9)"
    assert slope[saturated].max().item() < 0.19, "a saturated tanh has a slope of 0.19 or more"
