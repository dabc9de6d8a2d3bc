#!/usr/bin/env python3
"""Golden pixel values for the C++ image preprocessing, from transformers' Qwen2-VL image
processor (PIL backend) configured as Qwen3-VL's preprocessor_config.json configures it
(patch 16, merge 2, temporal patch 2, mean/std 0.5, 65536..16777216 pixels).

    pip install transformers torch numpy pillow safetensors
    tools/golden/image_preprocess_golden.py tests/data/engine/preprocess

Inputs (committed): screen_1920x1080.png (a real screenshot of the sandbox on Xvfb). The small
noise image small_37x53.png is generated here from a fixed seed. pixel_values of a real
screenshot are ~50 MB, so golden.safetensors keeps, per case NAME:
  NAME.grid [3]                image_grid_thw
  NAME.shape [2]               pixel_values' shape
  NAME.stats [3]               sum, sum of |v|, sum of v * ((flat index % 97) + 1)  (f64 → f32)
  NAME.rows [4, cols]          rows 0, 1, rows//2 and rows-1 of pixel_values
  NAME.resized.png             the resized 8-bit RGB image the processor normalised
Cases: small (default limits: upscaled), screen (default limits), screen_cap (max_pixels
1003520: downscaled, the CPU pixel cap).
"""
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil


def processor(max_pixels=16777216):
    return Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5, 0.5, 0.5],
                                    image_std=[0.5, 0.5, 0.5],
                                    size={"shortest_edge": 65536, "longest_edge": max_pixels})


def record(out, out_dir, name, image, proc):
    r = proc(images=[image], return_tensors="pt")
    pv = r["pixel_values"].double()
    grid = r["image_grid_thw"][0]
    rows = pv.shape[0]
    flat = pv.reshape(-1)
    weights = (torch.arange(flat.numel(), dtype=torch.int64) % 97 + 1).double()
    out[f"{name}.grid"] = grid.float()
    out[f"{name}.shape"] = torch.tensor(pv.shape, dtype=torch.float32)
    out[f"{name}.stats"] = torch.tensor([flat.sum(), flat.abs().sum(), (flat * weights).sum()]).float()
    out[f"{name}.rows"] = pv[[0, 1, rows // 2, rows - 1]].float().contiguous()
    # The resized 8-bit image itself, recovered from pixel_values (every value is (u/255-0.5)/0.5):
    # checks every pixel of the resampling exactly, in a few kB for a screenshot.
    t, gh, gw = grid.tolist()
    m, p = 2, 16
    u = torch.round((pv * 0.5 + 0.5) * 255).to(torch.uint8)
    u = u.reshape(gh // m, gw // m, m, m, 3, 2, p, p)[:, :, :, :, :, 0]  # drop the repeated frame
    u = u.permute(0, 2, 5, 1, 3, 6, 4).reshape(gh * p, gw * p, 3)
    Image.fromarray(u.numpy(), "RGB").save(os.path.join(out_dir, f"{name}.resized.png"), optimize=True)
    print(name, tuple(pv.shape), grid.tolist(), out[f"{name}.stats"].tolist())


def main():
    out_dir = sys.argv[1]
    rng = np.random.default_rng(9)
    small = Image.fromarray(rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8), "RGB")
    small.save(os.path.join(out_dir, "small_37x53.png"))
    screen = Image.open(os.path.join(out_dir, "screen_1920x1080.png")).convert("RGB")
    out = {}
    record(out, out_dir, "small", small, processor())
    record(out, out_dir, "screen", screen, processor())
    record(out, out_dir, "screen_cap", screen, processor(max_pixels=1003520))
    save_file(out, os.path.join(out_dir, "golden.safetensors"))


if __name__ == "__main__":
    main()
