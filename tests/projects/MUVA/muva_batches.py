"""The fixed training batch of the MUVA model tests: 6 random 256x128 images of 3 identities, with head / upper /
legs masks as row bands of the 16x8 patch grid."""
import torch


def fixed_batch(b=6):
    torch.manual_seed(5)
    masks = torch.zeros(b, 3, 16, 8, dtype=torch.uint8)
    masks[:, 0, :4], masks[:, 1, 4:10], masks[:, 2, 10:] = 1, 1, 1
    return {"images": torch.rand(b, 3, 256, 128) * 255, "targets": torch.tensor([0, 0, 1, 1, 2, 2][:b]),
            "masks": masks.reshape(b, 3, 128)}
