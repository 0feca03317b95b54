"""Energy networks: what identifies a set of weights."""

import torch

from ebm_core import nets


def test_a_weights_digest_changes_with_the_weights_only():
    a, b = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)
    b.load_state_dict(a.state_dict())
    assert nets.weights_digest(a) == nets.weights_digest(b)
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert nets.weights_digest(a) != nets.weights_digest(b)
