"""Self-supervised pretraining in pure torch: losses over two views, the projection-head wrapper,
the k-NN monitor and ``pretrain`` (configuration around the one loop, ``engine.loop.fit``)."""

from deepvision.ssl.knn import knn_accuracy
from deepvision.ssl.losses import byol_loss, nt_xent
from deepvision.ssl.model import SSLModel
from deepvision.ssl.pretrain import PretrainConfig, pretrain

__all__ = ["PretrainConfig", "SSLModel", "byol_loss", "knn_accuracy", "nt_xent", "pretrain"]
