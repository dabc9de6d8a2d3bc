#!/usr/bin/env python3
"""The `tokenizers` library on the same corpus and loop as bench/engine/bench_tokenizer.cpp.
    tools/bench/tokenizers_baseline.py TOKENIZER_JSON[.gz] CORPUS_JSON [repeats]"""
import gzip
import json
import sys
import time

from tokenizers import Tokenizer

path = sys.argv[1]
data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
tok = Tokenizer.from_str(data.decode("utf-8"))
texts = [c["text"] for c in json.load(open(sys.argv[2], encoding="utf-8"))["cases"]]
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 20
nbytes = sum(len(t.encode("utf-8")) for t in texts)
ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]  # warm-up
t0 = time.perf_counter()
tokens = 0
for _ in range(repeats):
    for i, t in enumerate(texts):
        ids[i] = tok.encode(t, add_special_tokens=False).ids
        tokens += len(ids[i])
enc = time.perf_counter() - t0
t0 = time.perf_counter()
out = 0
for _ in range(repeats):
    for v in ids:
        out += len(tok.decode(v, skip_special_tokens=False).encode("utf-8"))
dec = time.perf_counter() - t0
print(json.dumps({"impl": "tokenizers", "encode_mb_s": round(nbytes * repeats / enc / 1e6, 3),
                  "encode_tokens_s": round(tokens / enc), "decode_mb_s": round(out / dec / 1e6, 3),
                  "strings": len(texts), "repeats": repeats}))
