"""Networks of the paper's experiments, each taking an up-sampler factory ``(in, out) -> nn.Module``.

* ``UNet``: segmentation trained from scratch (Section 3.1), and ``UNet3D``, the same network in 3D;
* ``DeepLabResNet``: segmentation fine-tuned from a ResNet (Section 3.1);
* ``VAE`` and ``vae_loss``: image generation (Section 3.2).
"""

from pixeldcn.models.deeplab import DeepLabResNet, PretrainedWeightsError
from pixeldcn.models.gvae import GVAE, GVAE3D
from pixeldcn.models.unet import UNet, UNet3D
from pixeldcn.models.vae import VAE, vae_loss

__all__ = ["VAE", "DeepLabResNet", "PretrainedWeightsError", "UNet", "UNet3D", "vae_loss"]
__all__ += ["GVAE", "GVAE3D"]
