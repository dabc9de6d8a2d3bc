"""The twin of model/engine/action_grammar.h (constrained action decoding), for transformers: the
same responses, the same rules, so that an eval with `--action-grammar on` can be checked against
transformers (score_parity.py) as the coordinate readout is.

    [Thought: <one line without "Action:">\\n]Action: <call>

with the calls, boxes ([<|box_start|>](x,y)[<|box_end|>], 1 to 4 digits each, at most the limits
limit_coordinates() sets: NativeVlm's are the largest that map onto the screen), Python string
bodies and key names (1 to 4 names of 1 to 16 letters, digits or '_', or of one punctuation
byte, one space between; under limit_key_names() each a listed name, without regard to case, or a
single such character) of the C++ header. A token is allowed when each of its bytes (or its box
token) can follow the answer so far; a stop token only after a complete call; other special
tokens never.

Standard library only (the tests in tests/tools run it without PyPI packages); the processor
takes torch tensors from transformers' generate() but imports nothing itself.
"""
import json
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def _calls():
    """The calls, read from the C++ grammar's kCalls (its notation: {B} a box, {S} a string body,
    {K} key names), so that the twin cannot drift from it."""
    path = os.path.join(ROOT, "model", "engine", "action_grammar.cpp")
    with open(path, encoding="utf-8") as f:
        block = re.search(r"kCalls\[\] = \{(.*?)\};", f.read(), re.S)
    calls = re.findall(r'"([^"]*)"', block.group(1)) if block else []
    if not calls:
        raise RuntimeError(f"no kCalls in {path}")
    return calls


CALLS = _calls()
BOX_START, BOX_END = 256, 257  # symbols: bytes are 0..255
MAX_KEYS, MAX_KEY_NAME = 4, 16
DIGIT_COUNT = 10000  # a number's offset: 10 000 * its digits + its value
KEY_NODES = 1024  # key names under limit_key_names: offset = trie node + KEY_NODES * names before
MARKER = b"Action:"
NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# A punctuation key, a name of its own (hotkey(key='ctrl /')); not the quote nor the backslash.
PUNCTUATION_BYTES = frozenset(b for b in range(0x21, 0x7f) if b not in NAME_BYTES and b not in b"'\\")


def actuator_key_names():
    """The names actuators::key_name_list() gives the engine (the app passes them to NativeVlm),
    read from actuators/key_names.cpp's table as _calls() reads kCalls: its {"name", XK_...}
    entries and the f1..fN of its loop."""
    path = os.path.join(ROOT, "actuators", "key_names.cpp")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    names = re.findall(r'\{"([a-z0-9_]+)", XK_\w+\}', text)
    functions = re.search(r'for \(int i = 1; i <= (\d+); \+\+i\)\s*t\["f" \+', text)
    if not names or not functions:
        raise RuntimeError(f"no key name table in {path}")
    return sorted(names + [f"f{i}" for i in range(1, int(functions.group(1)) + 1)])


def _byte_decoder():
    """GPT-2's byte-level alphabet, reversed: the vocabulary's characters -> the bytes they stand for."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def token_table(tokenizer_json):
    """From a byte-level BPE tokenizer.json: (the symbols of each token id, None for a special or
    added token other than the box tokens, and the ids of <|im_end|> and <|endoftext|>)."""
    with open(tokenizer_json, encoding="utf-8") as f:
        doc = json.load(f)
    decode = _byte_decoder()
    added = {t["content"]: t["id"] for t in doc.get("added_tokens", [])}
    size = max(list(doc["model"]["vocab"].values()) + list(added.values())) + 1
    symbols = [None] * size
    for text, i in doc["model"]["vocab"].items():
        if text not in added:
            symbols[i] = [decode[ch] for ch in text]
    for text, i in added.items():
        symbols[i] = [BOX_START] if text == "<|box_start|>" else [BOX_END] if text == "<|box_end|>" else None
    stops = [added[s] for s in ("<|im_end|>", "<|endoftext|>") if s in added]
    return symbols, stops


class ActionGrammar:
    """Cursors are (form, element, offset) as in the C++ class; a state is a sorted tuple of them."""

    def __init__(self, symbols, stops):
        self.symbols = symbols
        self.stops = set(stops)
        has_start = any(s == [BOX_START] for s in symbols)
        has_end = any(s == [BOX_END] for s in symbols)
        self.forms = []
        for thought in (True, False):
            for call in CALLS:
                form = []

                def literal(text):
                    if form and form[-1][0] == "literal":
                        form[-1] = ("literal", form[-1][1] + text.encode())
                    else:
                        form.append(("literal", text.encode()))

                if thought:
                    literal("Thought: ")
                    form.append(("line",))
                    literal("\n")
                literal("Action: ")
                rest = call
                while rest:
                    hole = rest.find("{")
                    if hole < 0:
                        literal(rest)
                        break
                    literal(rest[:hole])
                    kind = rest[hole + 1]
                    if kind == "B":
                        if has_start:
                            form.append(("box", BOX_START))
                        literal("(")
                        form.append(("digits", 0))
                        literal(",")
                        form.append(("digits", 1))
                        literal(")")
                        if has_end:
                            form.append(("box", BOX_END))
                    elif kind == "K":
                        form.append(("keys",))
                    else:
                        form.append(("string",))
                    rest = rest[hole + 3:]
                form.append(("end",))
                self.forms.append(form)
        start = []
        for f in range(len(self.forms)):
            self._add(start, (f, 0, 0))
        self.start = tuple(sorted(set(start)))
        self._allowed = {}
        self.limits = (-1, -1)
        self.key_trie = []  # [(children {lower-case byte: node}, a name ends here)]; empty: no limit
        self.reset()

    def reset(self):
        self.state = self.start
        self.active = True

    def limit_coordinates(self, max_x, max_y):
        """The largest x and y a box may write; negative: no limit (only the 4 digits)."""
        limits = (max(max_x, -1), max(max_y, -1))
        if limits != self.limits:
            self.limits = limits
            self._allowed = {}  # the numbers' sets depend on the limits

    def limit_key_names(self, names):
        """Each key name one of `names` (without regard to case; names the grammar cannot spell
        are left out) or a single letter, digit, '_' or punctuation byte; empty: any 1 to 16 letters,
        digits or '_', or one punctuation byte."""
        trie = []
        if names:
            trie.append(({}, False))

            def insert(name):
                node = 0
                for b in name:
                    if b not in trie[node][0]:
                        if len(trie) == KEY_NODES:
                            raise ValueError(f"the key names need more than {KEY_NODES} trie nodes")
                        trie[node][0][b] = len(trie)
                        trie.append(({}, False))
                    node = trie[node][0][b]
                trie[node] = (trie[node][0], True)

            for b in b"abcdefghijklmnopqrstuvwxyz0123456789_" + bytes(sorted(PUNCTUATION_BYTES)):
                insert(bytes([b]))
            for name in names:
                lower = name.encode().lower()
                if 0 < len(lower) <= MAX_KEY_NAME and all(b in NAME_BYTES for b in lower):
                    insert(lower)
        self.key_trie = trie
        self._allowed = {}  # the key names' sets depend on the limit

    def _add(self, out, cursor):
        out.append(cursor)
        f, e, _ = cursor
        if self.forms[f][e][0] == "box":  # a box token may be left out
            self._add(out, (f, e + 1, 0))

    def _step(self, cursor, s, out):
        f, e, off = cursor
        element = self.forms[f][e]
        kind = element[0]

        def hand_on():
            following = []
            self._add(following, (f, e + 1, 0))
            for c in following:
                self._step(c, s, out)

        if kind == "literal":
            text = element[1]
            if s == text[off]:
                if off + 1 == len(text):
                    self._add(out, (f, e + 1, 0))
                else:
                    out.append((f, e, off + 1))
        elif kind == "box":
            if s == element[1]:
                self._add(out, (f, e + 1, 0))
        elif kind == "digits":
            digits, value = divmod(off, DIGIT_COUNT)
            if 48 <= s <= 57 and digits < 4:
                now = value * 10 + s - 48
                limit = self.limits[element[1]]
                if limit < 0 or now <= limit:
                    out.append((f, e, DIGIT_COUNT * (digits + 1) + now))
            if digits >= 1:
                hand_on()
        elif kind == "string":
            if off == 1:
                if s < 256:
                    out.append((f, e, 0))
            elif s == 92:  # backslash
                out.append((f, e, 1))
            elif s == 39:  # quote
                hand_on()
            elif s < 256 and s != 10:
                out.append(cursor)
        elif kind == "keys" and self.key_trie:
            node, names = off % KEY_NODES, off // KEY_NODES
            whole = node != 0 and self.key_trie[node][1]
            child = self.key_trie[node][0].get(s + 32 if 65 <= s <= 90 else s) if s < 256 else None
            if child is not None:
                out.append((f, e, names * KEY_NODES + child))
            elif s == 32 and whole and names + 1 < MAX_KEYS:
                out.append((f, e, (names + 1) * KEY_NODES))
            elif s == 39 and whole:
                hand_on()
        elif kind == "keys":
            letters, names = off % 32, off // 32
            if s in NAME_BYTES and letters < MAX_KEY_NAME:
                out.append((f, e, off + 1))
            elif s in PUNCTUATION_BYTES and letters == 0:  # a whole name: nothing extends it
                out.append((f, e, off + MAX_KEY_NAME + 1))
            elif s == 32 and letters >= 1 and names + 1 < MAX_KEYS:
                out.append((f, e, 32 * (names + 1)))
            elif s == 39 and letters >= 1:
                hand_on()
        elif kind == "line":
            if s == 10:
                if off >= 1:
                    hand_on()
            elif s < 256:
                matched = off - 1 if off >= 1 else 0
                now = matched + 1 if s == MARKER[matched] else 1 if s == MARKER[0] else 0
                if now < len(MARKER):
                    out.append((f, e, 1 + now))

    def _advance(self, state, symbols):
        for s in symbols:
            out = []
            for c in state:
                self._step(c, s, out)
            state = tuple(sorted(set(out)))
            if not state:
                break
        return state

    def _at_end(self, state):
        return any(self.forms[f][e][0] == "end" for f, e, _ in state)

    def allows(self, token):
        if not 0 <= token < len(self.symbols):
            return False
        if not self.active:
            return True
        if token in self.stops:
            return self._at_end(self.state)
        symbols = self.symbols[token]
        return bool(symbols) and bool(self._advance(self.state, symbols))

    def observe(self, token):
        if not self.active or not 0 <= token < len(self.symbols) or token in self.stops:
            return
        symbols = self.symbols[token]
        state = self._advance(self.state, symbols) if symbols else ()
        if state:
            self.state = state
        else:
            self.active = False

    def allowed(self):
        """The ids allowed next (a stop included when the call is complete), kept per state."""
        if self.state not in self._allowed:
            ids = [t for t, s in enumerate(self.symbols) if s and t not in self.stops and self._advance(self.state, s)]
            self._allowed[self.state] = ids
        ids = self._allowed[self.state]
        return ids + sorted(self.stops) if self._at_end(self.state) else ids


class ActionGrammarProcessor:
    """A transformers logits processor (batch of one): every token the grammar does not allow gets
    -inf, as NativeVlm masks before it chooses (put it before CoordinateReadoutProcessor, which
    then reads the masked logits, as the engine's readout does). `prompt_length` is the prompt's
    token count: the answer is what follows it."""

    def __init__(self, grammar, prompt_length):
        self.grammar = grammar
        self.prompt_length = prompt_length
        self.seen = 0
        grammar.reset()

    def __call__(self, input_ids, scores):
        answer = input_ids[0, self.prompt_length:].tolist()
        for token in answer[self.seen:]:
            self.grammar.observe(token)
        self.seen = len(answer)
        if not self.grammar.active:
            return scores
        keep = [t for t in self.grammar.allowed() if t < scores.shape[1]]
        if not keep:
            return scores
        kept = scores[0, keep].clone()
        scores[0] = float("-inf")
        scores[0, keep] = kept
        return scores
