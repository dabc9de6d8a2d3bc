"""tools/train_nano/action_grammar.py, the Python twin of model/engine/action_grammar.h, on the
cases the C++ test runs too (tests/data/engine/action_grammar/cases.json), and on the real
deskpilot-nano vocabulary: inside a box after "(", exactly the tokens that spell 1 to 4 digits.

Standard library only; the transformers processor around it is exercised by score_parity.py.
"""
import json
import os
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "train_nano"))
import action_grammar as ag  # noqa: E402
import nano_common as nc  # noqa: E402

CASES = os.path.join(ROOT, "tests", "data", "engine", "action_grammar", "cases.json")
NANO_TOKENIZER = os.path.join(ROOT, "tests", "data", "engine", "nano_tokenizer", "tokenizer.json")

# A vocabulary of one token per byte (ids 0..255), the box tokens (256, 257) and two stops.
BYTE_SYMBOLS = [[b] for b in range(256)] + [[ag.BOX_START], [ag.BOX_END], None, None]
STOPS = [258, 259]


def byte_tokens(text):
    out = []
    for i, part in enumerate(text.split("<|box_start|>")):
        if i:
            out.append(256)
        for j, piece in enumerate(part.split("<|box_end|>")):
            if j:
                out.append(257)
            out.extend(piece.encode())
    return out


def takes(grammar, prefix, text):
    grammar.reset()
    for t in byte_tokens(prefix):
        if not grammar.allows(t):
            raise AssertionError(f"prefix {prefix!r} refused")
        grammar.observe(t)
    for t in byte_tokens(text):
        if not grammar.allows(t):
            return False
        grammar.observe(t)
    return grammar.active


class SharedCases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(CASES, encoding="utf-8") as f:
            cls.cases = json.load(f)
        cls.grammar = ag.ActionGrammar(BYTE_SYMBOLS, STOPS)

    def test_complete_answers_may_stop_only_at_their_end(self):
        self.assertGreaterEqual(len(self.cases["complete"]), 10)
        for answer in self.cases["complete"]:
            g = self.grammar
            g.reset()
            for i, t in enumerate(byte_tokens(answer)):
                self.assertTrue(g.allows(t), f"{answer!r} at byte {i}")
                self.assertFalse(g.allows(STOPS[0]), f"{answer!r} may stop before byte {i}")
                g.observe(t)
            self.assertTrue(g.active, answer)
            self.assertTrue(g.allows(STOPS[0]) and g.allows(STOPS[1]), answer)
            self.assertIn(STOPS[0], g.allowed())

    def test_continuations_are_taken_or_refused_as_in_cpp(self):
        for prefix, text in self.cases["taken"]:
            self.assertTrue(takes(self.grammar, prefix, text), f"{prefix!r} | {text!r}")
        self.assertGreaterEqual(len(self.cases["refused"]), 10)
        for prefix, text in self.cases["refused"]:
            self.assertFalse(takes(self.grammar, prefix, text), f"{prefix!r} | {text!r}")

    def check_limited(self, g, section):
        """A section of limited cases: `g` (under its limits) takes and refuses them as the file
        says, and each refusal is well-formed without the limits."""
        self.assertGreaterEqual(len(section["taken"]), 3)
        self.assertGreaterEqual(len(section["refused"]), 3)
        for prefix, text in section["taken"]:
            self.assertTrue(takes(g, prefix, text), f"{prefix!r} | {text!r}")
        for prefix, text in section["refused"]:
            self.assertFalse(takes(g, prefix, text), f"{prefix!r} | {text!r}")
            self.assertTrue(takes(self.grammar, prefix, text), f"refused for its form: {prefix!r} | {text!r}")

    def test_coordinate_limits_as_in_cpp(self):
        limited = self.cases["limited"]
        g = ag.ActionGrammar(BYTE_SYMBOLS, STOPS)
        g.limit_coordinates(*limited["limits"])
        self.check_limited(g, limited)
        # A change of the limits drops the sets cached under the old ones: after "(64", a "0"
        # passes x's 639, and is allowed again without limits.
        takes(g, "Action: click(start_box='(", "64")
        self.assertNotIn(ord("0"), g.allowed())
        self.assertIn(ord(","), g.allowed())
        g.limit_coordinates(-1, -1)
        self.assertIn(ord("0"), g.allowed())

    def test_key_names_as_in_cpp(self):
        keys = self.cases["keys_limited"]
        g = ag.ActionGrammar(BYTE_SYMBOLS, STOPS)
        g.limit_key_names(keys["key_names"])
        self.check_limited(g, keys)
        # A change of the names drops the sets cached under the old ones: "ent" is no key, and
        # is one again without a limit.
        takes(g, "Action: hotkey(key='", "ent")
        self.assertNotIn(ord("'"), g.allowed())
        self.assertIn(ord("e"), g.allowed())
        g.limit_key_names([])
        self.assertIn(ord("'"), g.allowed())

    def test_too_many_key_names_are_refused(self):
        g = ag.ActionGrammar(BYTE_SYMBOLS, STOPS)
        g.limit_key_names(["enter"])
        names = [a + b + "x" * 14 for a in "abcdefghij" for b in "abcdefghij"]
        with self.assertRaises(ValueError) as caught:
            g.limit_key_names(names)
        self.assertIn("more than 1024 trie nodes", str(caught.exception))
        takes(g, "Action: hotkey(key='", "ent")
        self.assertNotIn(ord("'"), g.allowed())  # still held to "enter"

    def test_the_actuators_key_names(self):
        # What score_parity.py holds hotkeys to, read from actuators/key_names.cpp: the C++ test
        # (tests/actuators/test_key_names.cpp) checks key_name_list() has these 57.
        names = ag.actuator_key_names()
        self.assertEqual(len(names), 33 + 24)
        for name in ("ctrl", "pagedown", "arrowleft", "f1", "f24", "printscreen"):
            self.assertIn(name, names)
        g = ag.ActionGrammar(BYTE_SYMBOLS, STOPS)
        g.limit_key_names(names)
        self.assertTrue(takes(g, "Action: hotkey(key='", "Ctrl Shift F24')"))
        self.assertFalse(takes(g, "Action: hotkey(key='", "Save with All')"))

    def test_nanos_limits_on_the_sandbox_screen(self):
        # 1280x800 reaches deskpilot-nano as 640x384: x 640 and y 384 map to the screen's edge,
        # one past it (nano_common.coordinate_limits, the search NativeVlm makes).
        self.assertEqual(nc.coordinate_limits((1280, 800)), (639, 383))

    def test_a_dead_end_turns_it_off_until_reset(self):
        g = self.grammar
        takes(g, "Action: click(start_box='(", "")
        g.observe(ord("x"))
        self.assertFalse(g.active)
        self.assertTrue(g.allows(STOPS[0]))
        g.reset()
        self.assertTrue(g.active)
        self.assertFalse(g.allows(STOPS[0]))


class NanoVocabulary(unittest.TestCase):
    def test_inside_a_box_exactly_the_numbers_of_up_to_four_digits(self):
        symbols, stops = ag.token_table(NANO_TOKENIZER)
        self.assertEqual(len(stops), 2)
        single = {tuple(s): t for t, s in enumerate(symbols) if s is not None and len(s) == 1}
        g = ag.ActionGrammar(symbols, stops)
        # Fed one byte token at a time: the state is the same however the text is split.
        for t in byte_tokens("Thought: x.\nAction: click(start_box='<|box_start|>("):
            token = single[(ag.BOX_START,)] if t == 256 else single[(t,)]
            self.assertTrue(g.allows(token))
            g.observe(token)
        allowed = set(g.allowed())
        digits = {t for t, s in enumerate(symbols) if s and 1 <= len(s) <= 4 and all(48 <= b <= 57 for b in s)}
        self.assertEqual(allowed, digits)
        self.assertGreaterEqual(len(digits), 1000)  # one token per number 0..999, the digits too
        # After a number: more digits (up to four in all), or the comma.
        g.observe(single[(ord("2"),)])
        after_two = set(g.allowed())
        self.assertIn(single[(ord(","),)], after_two)
        self.assertNotIn(single[(ord(")"),)], after_two)


if __name__ == "__main__":
    unittest.main()
