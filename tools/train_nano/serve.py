#!/usr/bin/env python3
"""A deskpilot-nano checkpoint behind a minimal OpenAI-compatible chat endpoint, through
transformers (f32, greedy), with per-token logprobs: to measure `deskpilot eval --endpoint` and
the client's coordinate readout from top_logprobs (model/remote/coordinate_logprobs.h) on a real
model where no vLLM can run. Developer tool only; one request at a time.

    tools/train_nano/serve.py --model-dir models/deskpilot-nano --port 8011 &
    build/bin/deskpilot eval grounding --endpoint http://127.0.0.1:8011/v1 --model deskpilot-nano \\
        --family deskpilot-nano --seeds 0..49 --coordinate-window 16 -o remote-g.json

What it imitates of vLLM: GET /v1/models; POST /v1/chat/completions with text and data: URL
image parts; "logprobs" and "top_logprobs" (at most 20); special tokens skipped in the text, and
a special token's logprobs entry spelled "" so that the entries spell the text. It always answers
with one JSON body (a streamed request gets the plain answer, which the client accepts).
"""
import argparse
import base64
import io
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402


class Nano:
    def __init__(self, model_dir, max_new_tokens):
        from tokenizers import Tokenizer
        from transformers import Qwen3VLMoeForConditionalGeneration

        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.model = Qwen3VLMoeForConditionalGeneration.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="eager").eval()
        self.proc = nc.image_processor()
        # Asked as it was trained: a checkpoint of train.py --screenshot-first, screenshot first
        # (the engine's Conversation does the same from the same deskpilot.json).
        self.screenshot_first = nc.trained_screenshot_first(model_dir)
        self.stops = [self.tok.token_to_id("<|im_end|>"), self.tok.token_to_id("<|endoftext|>")]
        self.special = {self.tok.token_to_id(t) for t in nc.SPECIAL_TOKENS}
        self.max_new_tokens = max_new_tokens

    def piece(self, token_id):
        return "" if token_id in self.special else self.tok.decode([token_id], skip_special_tokens=False)

    def answer(self, messages, images, top_k):
        """(text, logprobs content entries) of the greedy answer."""
        from PIL import Image
        inputs = [self.proc(images=[Image.open(io.BytesIO(b)).convert("RGB")], return_tensors="pt")
                  for b in images]
        counts = [int(r["image_grid_thw"].prod()) // 4 for r in inputs]
        chat = nc.render_chat(nc.in_layout(messages, self.screenshot_first), counts)
        ids = torch.tensor([self.tok.encode(chat).ids])
        kwargs = {}
        if inputs:
            kwargs = {"pixel_values": torch.cat([r["pixel_values"] for r in inputs]),
                      "image_grid_thw": torch.cat([r["image_grid_thw"] for r in inputs])}
        self.model.model.rope_deltas = None
        with torch.no_grad():
            g = self.model.generate(input_ids=ids, mm_token_type_ids=(ids == self.model.config.image_token_id).int(),
                                    attention_mask=torch.ones_like(ids), max_new_tokens=self.max_new_tokens,
                                    do_sample=False, eos_token_id=self.stops, pad_token_id=self.stops[1],
                                    output_logits=True, return_dict_in_generate=True, **kwargs)
        new = g.sequences[0, ids.shape[1]:].tolist()
        entries = []
        for token_id, logits in zip(new, g.logits):
            if token_id in self.stops:
                break
            logp = torch.log_softmax(logits[0].float(), -1)
            entry = {"token": self.piece(token_id), "logprob": float(logp[token_id])}
            if top_k:
                values, top = logp.topk(top_k)
                entry["top_logprobs"] = [{"token": self.piece(int(t)), "logprob": float(v)}
                                         for v, t in zip(values.tolist(), top.tolist())]
            entries.append(entry)
        return "".join(e["token"] for e in entries), entries, int(ids.shape[1])


def parse_messages(body):
    """OpenAI chat messages -> (nano_common messages, image bytes in order)."""
    messages, images = [], []
    for m in body.get("messages", []):
        content = m.get("content")
        parts = []
        for p in ([{"type": "text", "text": content}] if isinstance(content, str) else content or []):
            if p.get("type") == "text":
                parts.append(p["text"])
            elif p.get("type") == "image_url":
                url = p["image_url"]["url"]
                images.append(base64.b64decode(url.split(",", 1)[1]))
                parts.append({"image": len(images) - 1})
        messages.append({"role": m["role"], "parts": parts})
    return messages, images


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default="models/deskpilot-nano")
    ap.add_argument("--name", default="deskpilot-nano", help="the model id /v1/models lists")
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    a = ap.parse_args()
    nano = Nano(a.model_dir, a.max_new_tokens)

    class Handler(BaseHTTPRequestHandler):
        def reply(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                return self.reply(200, {"object": "list", "data": [{"id": a.name, "object": "model"}]})
            self.reply(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self):
            if not self.path.rstrip("/").endswith("/chat/completions"):
                return self.reply(404, {"error": {"message": f"no route {self.path}"}})
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            top_k = min(int(body.get("top_logprobs", 0) or 0), 20) if body.get("logprobs") else 0
            text, entries, prompt_tokens = nano.answer(*parse_messages(body), top_k)
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            if body.get("logprobs"):
                choice["logprobs"] = {"content": entries}
            self.reply(200, {"id": "chatcmpl-nano", "object": "chat.completion", "model": a.name,
                             "choices": [choice],
                             "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(entries),
                                       "total_tokens": prompt_tokens + len(entries)}})

        def log_message(self, *args):
            pass

    print(f"serving {a.model_dir} as {a.name} on http://127.0.0.1:{a.port}/v1", flush=True)
    HTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
