"""pix2pix itself: networks (U-Net, PatchGAN), the training Dataset, run settings, the trainer (one process or
torchrun) and checkpoints (safetensors + JSON)."""
