import torch

from deepvision.models import create_model
from deepvision.ssl import SSLModel
from deepvision.ssl.model import update_target


def test_the_backbone_comes_back_as_a_plain_model_of_its_architecture():
    torch.manual_seed(0)
    net = create_model("resnet20", 10, 1)
    ssl = SSLModel(net, projection_dim=16, hidden_dim=32)
    assert ssl(torch.rand(4, 1, 8, 8)).shape == (4, 16)
    with torch.no_grad():
        next(ssl.encoder.parameters()).add_(1.0)  # "training" changes the encoder
    back = ssl.backbone_model()
    assert type(back) is type(net) and back.spec == net.spec
    assert back.state_dict().keys() == net.state_dict().keys()
    assert torch.equal(next(back.parameters()), next(ssl.encoder.parameters()))
    assert "_head" not in dict(ssl.named_modules()) and not any(
        k.startswith("head") for k in ssl.state_dict())


def test_byol_target_follows_the_online_network_slowly():
    torch.manual_seed(0)
    ssl = SSLModel(create_model("lenet5", 3, 1), method="byol", projection_dim=8, hidden_dim=16,
                   target_momentum=0.9)
    online, target = ssl(torch.rand(4, 1, 8, 8))
    assert online.shape == target.shape == (4, 8) and not target.requires_grad
    before = next(ssl.target_encoder.parameters()).clone()
    with torch.no_grad():
        next(ssl.encoder.parameters()).add_(1.0)
    update_target(ssl)
    moved = next(ssl.target_encoder.parameters()) - before
    assert torch.allclose(moved, torch.full_like(moved, 0.1), atol=1e-6)
    assert not any(p.requires_grad for p in ssl.target_projector.parameters())
