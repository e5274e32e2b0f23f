"""Tests for nnbook.distributed: DDP on two CPU processes against one process."""

import socket

import pytest
import torch

from nnbook.distributed import free_port, shard, train_ddp, train_single
from nnbook.models import MLP
from nnbook.training import snapshot


@pytest.fixture(scope="module")
def data():
    """200 points of the three-class problem and a 2-8-3 network's initial weights."""
    from nnbook.data import ThreeClassProblem

    X, y = ThreeClassProblem().make_dataset(200, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    return X, y, snapshot(MLP(2, 8, 3))


def test_free_port_can_be_bound():
    """The port free_port reports is one that a new socket can listen on."""
    port = free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_shards_are_contiguous_and_cover_the_batch():
    """The shards of all ranks, in rank order, are the batch."""
    X = torch.arange(12).reshape(6, 2)
    parts = [shard(X, rank, 3) for rank in range(3)]
    assert torch.equal(torch.cat(parts), X)
    assert [len(p) for p in parts] == [2, 2, 2]


def test_shard_refuses_an_uneven_split():
    """A batch that the world size does not divide is refused with the sizes named."""
    with pytest.raises(ValueError, match="5 cannot be split evenly into 2"):
        shard(torch.zeros(5, 2), 0, 2)


def test_train_single_records_every_step(data):
    """Weights before the first step and after each: (steps + 1, n_params), all moving."""
    X, y, init = data
    weights = train_single(X, y, init, batch_size=50, steps=3)
    assert weights.shape == (4, 51)
    assert all((weights[i + 1] != weights[i]).any() for i in range(3))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 51}, ValueError, "multiple of world_size 2"),
        ({"steps": 5, "batch_size": 50}, ValueError, "need 250 points"),
        ({"world_size": 0}, ValueError, "world_size"),
    ],
)
def test_train_ddp_refuses_bad_input_before_spawning(data, kwargs, error, match):
    """Uneven shards, too little data and no processes are refused in the calling process."""
    X, y, init = data
    options = {"batch_size": 50, "steps": 2, **kwargs}
    with pytest.raises(error, match=match):
        train_ddp(X, y, init, **options)


@pytest.mark.slow
def test_ddp_on_two_processes_matches_one_process(data):
    """Two gloo processes keep identical weights, equal to one process on full batches."""
    X, y, init = data
    ddp = train_ddp(X, y, init, batch_size=50, steps=4, timeout=120)
    single = train_single(X, y, init, batch_size=50, steps=4)
    assert ddp.world_size == 2
    assert torch.equal(ddp.weights[0], ddp.weights[1])
    assert ddp.max_gap == [[0.0] * 4, [0.0] * 4]
    torch.testing.assert_close(ddp.weights[0], single)
    assert (ddp.weights[0][-1] != ddp.weights[0][0]).any()
