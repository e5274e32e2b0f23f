"""Tests for nnbook.models."""

import pytest
import torch
from torch import nn

from nnbook.models import MLP


def test_parameter_shapes_are_out_by_in():
    """A Linear weight is [out, in]; the 2-4-1 model has the four tensors of the XOR chapter."""
    shapes = {k: tuple(v.shape) for k, v in MLP(2, 4, 1).named_parameters()}
    assert shapes == {
        "net.0.weight": (4, 2),
        "net.0.bias": (4,),
        "net.2.weight": (1, 4),
        "net.2.bias": (1,),
    }


def test_same_initial_weights_as_hand_written_layers():
    """Seeded, MLP(2, 8, 3) draws the weights of Linear(2, 8), Tanh, Linear(8, 3) by hand."""
    torch.manual_seed(2100)
    ours = MLP(2, 8, 3)
    torch.manual_seed(2100)
    ref = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    for a, b in zip(ours.net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    x = torch.rand(10, 2)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "gelu"])
def test_output_shape_and_activation(activation):
    """Logits are (N, out_features) for every activation, with several hidden layers too."""
    model = MLP(2, (5, 6), 3, activation=activation)
    assert model(torch.zeros(7, 2)).shape == (7, 3)
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 3


def test_wrong_input_width_is_named():
    """(N, 3) points for a 2-feature model raise an error that states both shapes."""
    with pytest.raises(ValueError, match=r"\(N, 2\), got \(4, 3\)"):
        MLP(2, 4, 1)(torch.zeros(4, 3))


def test_integer_input_is_refused():
    """Integer inputs are refused instead of failing deep inside Linear."""
    with pytest.raises(TypeError, match="floating-point"):
        MLP(2, 4, 1)(torch.zeros(4, 2, dtype=torch.int64))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 4, 1), "in_features must be positive"),
        ((2, -1, 1), "hidden must be positive"),
        ((2, 4, 0), "out_features must be positive"),
        ((2, 2.5, 1), "hidden must be an int"),
    ],
)
def test_bad_sizes(args, match):
    """Sizes that are not positive ints are refused, naming the size."""
    with pytest.raises((ValueError, TypeError), match=match):
        MLP(*args)


def test_unknown_activation():
    """An unknown activation lists the known ones."""
    with pytest.raises(ValueError, match="activation='swish' is unknown"):
        MLP(2, 4, 1, activation="swish")


def test_repr_lists_the_layer_sizes():
    """The repr names the sizes in order, also for a model with no hidden layer."""
    assert "sizes=2-4-1" in repr(MLP(2, 4, 1))
    assert "sizes=2-3" in repr(MLP(2, [], 3))


def test_from_logits_is_the_one_rule_for_classes_and_probabilities():
    """Several logits: argmax and softmax; one logit: sign and sigmoid; logits pass through."""
    from nnbook.models import from_logits

    logits = torch.tensor([[2.0, 1.0, 3.0], [0.5, 0.5, -1.0]])
    assert from_logits(logits, "class").tolist() == [2, 0]  # a tie goes to the first
    torch.testing.assert_close(from_logits(logits, "proba"), torch.softmax(logits, dim=1))
    assert from_logits(logits, "logits") is logits
    binary = torch.tensor([[-0.5], [0.0], [2.0]])
    assert from_logits(binary, "class").tolist() == [0, 0, 1]
    torch.testing.assert_close(from_logits(binary, "proba"), torch.sigmoid(binary[:, 0]))
    batched = torch.randn(4, 5, 3)  # (K, N, C): the rule works on the last dimension
    assert from_logits(batched, "class").shape == (4, 5)
    with pytest.raises(ValueError, match="output must be one of"):
        from_logits(logits, "probabilities")
