import torch

from deepvision.ssl import knn_accuracy


def test_knn_votes_by_the_nearest_features():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.2, 1.0]])
    assert knn_accuracy(bank, labels, query, torch.tensor([0, 1, 1]), k=2) == 1.0
    assert knn_accuracy(bank, labels, query, torch.tensor([1, 1, 1]), k=2) == 2 / 3


def test_knn_weights_close_neighbours_more_than_far_ones():
    # One very close class-1 neighbour outvotes two distant class-0 ones at a low temperature.
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([1, 0, 0])
    query = torch.tensor([[1.0, 0.3]])
    assert knn_accuracy(bank, labels, query, torch.tensor([1]), k=3, temperature=0.05) == 1.0
    assert knn_accuracy(bank, labels, query, torch.tensor([1]), k=3, temperature=100.0) == 0.0
