#!/usr/bin/env python3
"""Reference for tools/bench/vlm_vs_llama_cpp.sh (REFERENCE=1): the logits after a prompt with one
image from transformers' Qwen3VLMoeForConditionalGeneration, text in bf16 (or float32), vision
tower in float32.

    vlm_transformers_logits.py MODEL_DIR IMAGE IDS.json OUT.f32 [float32]

With float32 the text model runs in float32 too (about twice the checkpoint's size in memory).

IDS.json holds the prompt's token ids with the image already expanded to its <|image_pad|>
tokens (deskpilot tokenize writes it). The image must be a multiple of 32 pixels on each side: it
is cut into patches as Qwen2VLImageProcessor does, without resizing (no torchvision needed).
"""
import json
import sys

import numpy as np
import torch
from PIL import Image
from transformers import Qwen3VLMoeForConditionalGeneration

IMAGE_PAD = 151655


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    model_dir, image, ids_file, out = sys.argv[1:5]
    dtype = torch.float32 if sys.argv[5:] == ["float32"] else torch.bfloat16
    ids = json.load(open(ids_file))
    im = (np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255.0 - 0.5) / 0.5
    h, w, _ = im.shape
    p, m, tp = 16, 2, 2
    if h % (p * m) or w % (p * m):
        sys.exit(f"{image}: {w}x{h} is not a multiple of 32 pixels")
    gh, gw = h // p, w // p
    x = np.repeat(im.transpose(2, 0, 1)[None], tp, axis=0)
    x = x.reshape(1, tp, 3, gh // m, m, p, gw // m, m, p).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    pixels = torch.from_numpy(np.ascontiguousarray(x.reshape(gh * gw, 3 * tp * p * p)))
    model = Qwen3VLMoeForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).eval()
    model.model.visual.float()
    with torch.no_grad():
        o = model(input_ids=torch.tensor([ids]),
                  mm_token_type_ids=torch.tensor([[int(i == IMAGE_PAD) for i in ids]]),
                  pixel_values=pixels, image_grid_thw=torch.tensor([[1, gh, gw]]))
    o.logits[0, -1].float().numpy().astype(np.float32).tofile(out)


if __name__ == "__main__":
    main()
