#include "model/engine/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "planner/utf8.h"

namespace deskpilot::model::engine {

using json = nlohmann::json;
namespace utf8 = planner::utf8;

namespace {

// GPT-2's byte-level alphabet: printable bytes stand for themselves, the others are moved to
// code points from U+0100 up so every byte has a visible, non-space symbol.
std::array<char32_t, 256> byte_to_code_point() {
    std::array<char32_t, 256> map{};
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[std::size_t(b)] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[std::size_t(b)] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[std::size_t(b)] = true;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b)
        map[std::size_t(b)] = direct[std::size_t(b)] ? char32_t(b) : next++;
    return map;
}

// An added token as `tokenizers` defines it. `pattern` is what is searched for: the content
// itself, or for a `normalized` token the content after the normaliser (matched against
// normalised text).
struct AddedToken {
    std::string content, pattern;
    TokenId id;
    bool special, lstrip, rstrip, single_word, normalized;
};

// One piece of the text after added tokens are found: [begin, end) with the token it stands for
// (nullptr: plain text).
struct Split {
    std::size_t begin, end;
    const AddedToken* token;
};

struct PairHash {
    std::size_t operator()(std::uint64_t k) const {
        return std::hash<std::uint64_t>{}(k * 0x9E3779B97F4A7C15ull);
    }
};

}  // namespace

struct Tokenizer::Impl {
    std::string label;
    std::unordered_map<std::string, TokenId> vocab;  // BPE vocabulary and added tokens
    std::vector<std::string> id_to_token;
    std::vector<std::uint8_t> flags;  // bit 0: added, bit 1: special
    struct Merge {
        std::uint32_t rank;
        TokenId result;
    };
    std::unordered_map<std::uint64_t, Merge, PairHash> merges;  // (left id << 32 | right id)
    std::array<TokenId, 256> byte_token{};                      // id of each single-byte symbol
    std::array<std::string, 256> byte_symbol;                   // UTF-8 of each byte's symbol
    std::unordered_map<char32_t, std::uint8_t> symbol_byte;     // the reverse mapping
    std::vector<AddedToken> added;     // matched in the raw text, longest pattern first
    std::vector<AddedToken> added_nf;  // `normalized` ones, matched after normalisation
    bool nfc = false;
    pcre2_code* regex = nullptr;

    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<TokenId>> cache;

    ~Impl() {
        if (regex) pcre2_code_free(regex);
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw TokenizerError(label + ": " + what);
    }

    void bpe(std::string_view piece, std::vector<TokenId>& out) const;
    std::string normalize(std::string_view text) const;
    // Pre-tokenizes already normalised text and appends its BPE ids.
    void encode_normalized(std::string_view text, std::vector<TokenId>& out) const;
};

namespace {

const json& need(const json& j, const char* key, const Tokenizer::Impl& impl, const char* where) {
    const auto it = j.find(key);
    if (it == j.end()) impl.fail(std::string(where) + " has no '" + key + "'");
    return *it;
}

void load_normalizer(const json& n, Tokenizer::Impl& impl) {
    if (n.is_null()) return;
    const std::string type = n.value("type", "");
    if (type == "NFC") {
        impl.nfc = true;
    } else if (type == "Sequence") {
        for (const auto& s : need(n, "normalizers", impl, "normalizer")) load_normalizer(s, impl);
    } else {
        impl.fail("normalizer '" + type + "' is not supported (NFC is)");
    }
}

void load_pre_tokenizer(const json& p, Tokenizer::Impl& impl) {
    if (p.is_null()) impl.fail("a pre-tokenizer is required (Split regex + ByteLevel)");
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
        for (const auto& s : need(p, "pretokenizers", impl, "pre_tokenizer"))
            load_pre_tokenizer(s, impl);
    } else if (type == "Split") {
        if (impl.regex) impl.fail("more than one Split pre-tokenizer is not supported");
        const json& pattern = need(p, "pattern", impl, "Split pre-tokenizer");
        if (!pattern.contains("Regex"))
            impl.fail("Split pre-tokenizer without a Regex pattern is not supported");
        if (p.value("behavior", "") != "Isolated" || p.value("invert", false))
            impl.fail(
                "Split pre-tokenizer behaviour other than Isolated (not inverted) is not "
                "supported");
        const std::string re = pattern["Regex"].get<std::string>();
        int err = 0;
        PCRE2_SIZE err_off = 0;
        impl.regex = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
        if (!impl.regex) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            impl.fail("pre-tokenizer regex does not compile at offset " + std::to_string(err_off) +
                      ": " + reinterpret_cast<const char*>(msg));
        }
        // JIT is an optimisation: where it is unavailable the interpreter gives the same matches.
        pcre2_jit_compile(impl.regex, PCRE2_JIT_COMPLETE);
    } else if (type == "ByteLevel") {
        if (p.value("use_regex", true))
            impl.fail("ByteLevel pre-tokenizer with use_regex is not supported");
        if (p.value("add_prefix_space", false))
            impl.fail("ByteLevel add_prefix_space is not supported");
    } else {
        impl.fail("pre-tokenizer '" + type + "' is not supported");
    }
}

std::string merge_text(const json& m, std::string& right, const Tokenizer::Impl& impl) {
    // Two spellings: ["a", "b"] (newer files) or "a b".
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        right = m[1].get<std::string>();
        return m[0].get<std::string>();
    }
    if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 == s.size())
            impl.fail("merge '" + s + "' is not 'left right'");
        right = s.substr(sp + 1);
        return s.substr(0, sp);
    }
    impl.fail("a merge is neither a pair nor a string: " + m.dump());
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw TokenizerError(path.string() + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    return from_json(ss.str(), path.string());
}

Tokenizer Tokenizer::from_json(std::string_view text, const std::string& label) {
    auto impl = std::make_shared<Impl>();
    impl->label = label;
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::exception& e) {
        impl->fail(std::string("not valid JSON: ") + e.what());
    }
    try {
        const json& model = need(doc, "model", *impl, "tokenizer.json");
        if (model.value("type", "") != "BPE")
            impl->fail("model type '" + model.value("type", "") + "' is not supported (BPE is)");
        if (model.contains("dropout") && !model["dropout"].is_null())
            impl->fail("BPE dropout is not supported");
        if (!model.value("continuing_subword_prefix", std::string()).empty() ||
            !model.value("end_of_word_suffix", std::string()).empty())
            impl->fail("BPE subword prefixes/suffixes are not supported");
        if (model.value("byte_fallback", false)) impl->fail("BPE byte_fallback is not supported");
        if (model.value("ignore_merges", false)) impl->fail("BPE ignore_merges is not supported");

        auto set_token = [&](const std::string& tok, TokenId id, std::uint8_t flag) {
            if (id < 0 || id > 10'000'000)
                impl->fail("token '" + tok + "' has an out-of-range id " + std::to_string(id));
            if (std::size_t(id) >= impl->id_to_token.size()) {
                impl->id_to_token.resize(std::size_t(id) + 1);
                impl->flags.resize(std::size_t(id) + 1, 0);
            }
            impl->id_to_token[std::size_t(id)] = tok;
            impl->flags[std::size_t(id)] |= flag | 4;  // bit 2: id in use
            impl->vocab[tok] = id;
        };
        for (auto it = need(model, "vocab", *impl, "model").begin(); it != model["vocab"].end();
             ++it)
            set_token(it.key(), it.value().get<TokenId>(), 0);

        const auto b2c = byte_to_code_point();
        for (int b = 0; b < 256; ++b) {
            std::string sym;
            utf8::append_code_point(sym, b2c[std::size_t(b)]);
            impl->byte_symbol[std::size_t(b)] = sym;
            impl->symbol_byte[b2c[std::size_t(b)]] = std::uint8_t(b);
            const auto v = impl->vocab.find(sym);
            if (v == impl->vocab.end())
                impl->fail("the vocabulary lacks the byte-level symbol for byte " +
                           std::to_string(b));
            impl->byte_token[std::size_t(b)] = v->second;
        }

        std::uint32_t rank = 0;
        for (const auto& m : need(model, "merges", *impl, "model")) {
            std::string right;
            const std::string left = merge_text(m, right, *impl);
            const auto l = impl->vocab.find(left), r = impl->vocab.find(right),
                       lr = impl->vocab.find(left + right);
            if (l == impl->vocab.end() || r == impl->vocab.end() || lr == impl->vocab.end())
                impl->fail("merge '" + left + " " + right +
                           "' uses a token missing from the vocabulary");
            const std::uint64_t key =
                std::uint64_t(std::uint32_t(l->second)) << 32 | std::uint32_t(r->second);
            impl->merges.emplace(key,
                                 Impl::Merge{rank++, lr->second});  // the first (lowest) rank wins
        }

        if (doc.contains("added_tokens")) {
            for (const auto& a : doc["added_tokens"]) {
                const std::string content =
                    need(a, "content", *impl, "added token").get<std::string>();
                if (content.empty()) impl->fail("an added token is empty");
                const bool special = a.value("special", false);
                const TokenId id = need(a, "id", *impl, "added token").get<TokenId>();
                set_token(content, id, std::uint8_t(1 | (special ? 2 : 0)));
                // `normalized` defaults to !special, as in tokenizers' AddedToken::from.
                AddedToken t{content,
                             content,
                             id,
                             special,
                             a.value("lstrip", false),
                             a.value("rstrip", false),
                             a.value("single_word", false),
                             a.value("normalized", !special)};
                (t.normalized ? impl->added_nf : impl->added).push_back(std::move(t));
            }
        }
        load_normalizer(doc.value("normalizer", json()), *impl);
        // Normalised tokens are searched for in their normalised spelling.
        for (auto& t : impl->added_nf) t.pattern = impl->normalize(t.content);
        for (auto* set : {&impl->added, &impl->added_nf})
            std::stable_sort(set->begin(), set->end(),
                             [](const AddedToken& x, const AddedToken& y) {
                                 return x.pattern.size() > y.pattern.size();
                             });
        load_pre_tokenizer(doc.value("pre_tokenizer", json()), *impl);
        if (!impl->regex) impl->fail("no Split regex pre-tokenizer found");
        const json dec = doc.value("decoder", json());
        if (!dec.is_null() && dec.value("type", "") != "ByteLevel")
            impl->fail("decoder '" + dec.value("type", "") + "' is not supported (ByteLevel is)");
    } catch (const json::exception& e) {
        impl->fail(std::string("unexpected structure: ") + e.what());
    }
    Tokenizer t;
    t.impl_ = std::move(impl);
    return t;
}

void Tokenizer::Impl::bpe(std::string_view piece, std::vector<TokenId>& out) const {
    {
        std::lock_guard lock(cache_mutex);
        const auto it = cache.find(std::string(piece));
        if (it != cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<TokenId> word;
    word.reserve(piece.size());
    for (unsigned char c : piece) word.push_back(byte_token[c]);
    // Merge the lowest-ranked adjacent pair, leftmost first, until none is in the table.
    for (;;) {
        std::uint32_t best_rank = UINT32_MAX;
        std::size_t best = 0;
        TokenId best_result = 0;
        for (std::size_t i = 0; i + 1 < word.size(); ++i) {
            const auto it = merges.find(std::uint64_t(std::uint32_t(word[i])) << 32 |
                                        std::uint32_t(word[i + 1]));
            if (it != merges.end() && it->second.rank < best_rank) {
                best_rank = it->second.rank;
                best = i;
                best_result = it->second.result;
            }
        }
        if (best_rank == UINT32_MAX) break;
        word[best] = best_result;
        word.erase(word.begin() + std::ptrdiff_t(best) + 1);
    }
    out.insert(out.end(), word.begin(), word.end());
    std::lock_guard lock(cache_mutex);
    if (cache.size() > 200'000) cache.clear();  // bounded: a long session must not grow without end
    cache.emplace(std::string(piece), std::move(word));
}

std::string Tokenizer::Impl::normalize(std::string_view text) const {
    if (!nfc || text.empty()) return std::string(text);
    // Length-delimited (not NUL-terminated) so a NUL inside the text survives.
    utf8proc_uint8_t* n = nullptr;
    const utf8proc_ssize_t len = utf8proc_map(
        reinterpret_cast<const utf8proc_uint8_t*>(text.data()), utf8proc_ssize_t(text.size()), &n,
        utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (len < 0) fail(std::string("NFC normalisation failed: ") + utf8proc_errmsg(len));
    std::string normalized(reinterpret_cast<const char*>(n), std::size_t(len));
    std::free(n);
    return normalized;
}

void Tokenizer::Impl::encode_normalized(std::string_view text, std::vector<TokenId>& out) const {
    if (text.empty()) return;
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t pos = 0;
    while (pos < text.size()) {
        const int rc =
            pcre2_match(regex, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) {
            bpe(text.substr(pos), out);  // Isolated: the unmatched rest is a piece of its own
            break;
        }
        if (rc < 0) {
            pcre2_match_data_free(md);
            fail("regex match failed with PCRE2 error " + std::to_string(rc));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const std::size_t b = ov[0], e = ov[1];
        if (b > pos) bpe(text.substr(pos, b - pos), out);
        if (e > b) {
            bpe(text.substr(b, e - b), out);
            pos = e;
        } else {  // an empty match: step over one character
            std::size_t step = 1;
            while (b + step < text.size() &&
                   (static_cast<unsigned char>(text[b + step]) & 0xC0) == 0x80)
                ++step;
            bpe(text.substr(b, step), out);
            pos = b + step;
        }
    }
    pcre2_match_data_free(md);
}

namespace {

// Unicode White_Space, which Rust's regex `\s` (used by tokenizers for lstrip/rstrip) matches.
bool is_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// Rust's Unicode `\w` (single_word): Alphabetic, marks, decimal digits, connector punctuation
// and Join_Control. Alphabetic is the letters, letter numbers and Other_Alphabetic, whose
// members outside the marks are the circled/squared Latin letters.
bool is_word(char32_t c) {
    if (c == 0x200C || c == 0x200D) return true;
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return true;
    switch (utf8proc_category(utf8proc_int32_t(c))) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_PC:
            return true;
        default:
            return false;
    }
}

char32_t first_char(std::string_view s) {
    utf8proc_int32_t cp = 0;
    utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                     utf8proc_ssize_t(s.size()), &cp);
    return char32_t(cp);
}

char32_t last_char(std::string_view s) {
    std::size_t i = s.size() - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    return first_char(s.substr(i));
}

// Where the run of white space that ends `s` begins (s.size() when there is none).
std::size_t trailing_space_start(std::string_view s) {
    std::size_t i = s.size();
    while (i > 0) {
        std::size_t j = i - 1;
        while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
        if (!is_space(first_char(s.substr(j, i - j)))) break;
        i = j;
    }
    return i;
}

// The length of the run of white space that starts `s`.
std::size_t leading_space_length(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t n = 1;
        while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
        if (!is_space(first_char(s.substr(i, n)))) break;
        i += n;
    }
    return i;
}

// tokenizers' AddedVocabulary::find_matches: non-overlapping leftmost-longest matches of the
// set's patterns; a single_word match with a word character next to it, or a special token when
// specials are not parsed, is dropped (its span stays plain text and is not searched again);
// lstrip/rstrip widen the match over adjacent white space, which the token then absorbs.
std::vector<Split> find_added(std::string_view text, const std::vector<AddedToken>& set,
                              bool parse_special) {
    std::vector<Split> splits;
    std::size_t done = 0, i = 0;
    while (i < text.size()) {
        const AddedToken* hit = nullptr;
        for (const auto& a : set)
            if (text.compare(i, a.pattern.size(), a.pattern) == 0) {
                hit = &a;
                break;
            }
        if (!hit) {
            ++i;
            continue;
        }
        std::size_t start = i, stop = i + hit->pattern.size();
        i = stop;  // the search resumes after the match whether or not it is kept
        if (hit->special && !parse_special) continue;
        if (hit->single_word) {
            const bool word_before = start > 0 && is_word(last_char(text.substr(0, start)));
            const bool word_after = stop < text.size() && is_word(first_char(text.substr(stop)));
            if (word_before || word_after) continue;
        }
        if (hit->lstrip) start = std::max(trailing_space_start(text.substr(0, start)), done);
        if (hit->rstrip) stop += leading_space_length(text.substr(stop));
        if (done < start) splits.push_back({done, start, nullptr});
        splits.push_back({start, stop, hit});
        done = stop;
    }
    if (done < text.size()) splits.push_back({done, text.size(), nullptr});
    return splits;
}

}  // namespace

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool parse_special) const {
    const std::size_t bad = utf8::first_invalid(text);
    if (bad != std::string_view::npos)
        throw TokenizerError("text to tokenize is not valid UTF-8 (byte offset " +
                             std::to_string(bad) + ")");
    std::vector<TokenId> out;
    out.reserve(text.size() / 3 + 4);
    // As tokenizers' extract_and_normalize: tokens that are not `normalized` are found in the
    // raw text; each remaining piece is normalised, searched for the normalized tokens, and
    // what is left goes through the pre-tokenizer and BPE.
    for (const Split& raw : find_added(text, impl_->added, parse_special)) {
        if (raw.token) {
            out.push_back(raw.token->id);
            continue;
        }
        const std::string piece = impl_->normalize(text.substr(raw.begin, raw.end - raw.begin));
        if (impl_->added_nf.empty()) {
            impl_->encode_normalized(piece, out);
            continue;
        }
        for (const Split& s : find_added(piece, impl_->added_nf, parse_special)) {
            if (s.token)
                out.push_back(s.token->id);
            else
                impl_->encode_normalized(std::string_view(piece).substr(s.begin, s.end - s.begin),
                                         out);
        }
    }
    return out;
}

std::string Tokenizer::token_bytes(TokenId id) const {
    const std::string& tok = id_to_token(id);
    // A token whose every character is a byte-level symbol stands for those bytes; any other
    // (an added token with characters outside the alphabet) stands for its own UTF-8.
    std::string bytes;
    std::size_t i = 0;
    while (i < tok.size()) {
        utf8proc_int32_t cp = 0;
        const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(tok.data() + i),
                                        utf8proc_ssize_t(tok.size() - i), &cp);
        if (n <= 0) return tok;
        const auto it = impl_->symbol_byte.find(char32_t(cp));
        if (it == impl_->symbol_byte.end()) return tok;
        bytes += char(it->second);
        i += std::size_t(n);
    }
    return bytes;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
    std::string bytes;
    for (TokenId id : ids) {
        if (skip_special && is_special(id)) continue;
        bytes += token_bytes(id);
    }
    std::string out;
    utf8::append_lossy(out, bytes, false);
    return out;
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
    const auto it = impl_->vocab.find(std::string(token));
    if (it == impl_->vocab.end()) return std::nullopt;
    return it->second;
}

const std::string& Tokenizer::id_to_token(TokenId id) const {
    if (id < 0 || std::size_t(id) >= impl_->id_to_token.size() ||
        !(impl_->flags[std::size_t(id)] & 4))
        throw TokenizerError(impl_->label + ": token id " + std::to_string(id) +
                             " is not in the vocabulary");
    return impl_->id_to_token[std::size_t(id)];
}

bool Tokenizer::is_special(TokenId id) const {
    return id >= 0 && std::size_t(id) < impl_->flags.size() && (impl_->flags[std::size_t(id)] & 2);
}
bool Tokenizer::is_added(TokenId id) const {
    return id >= 0 && std::size_t(id) < impl_->flags.size() && (impl_->flags[std::size_t(id)] & 1);
}
std::size_t Tokenizer::vocab_size() const {
    return impl_->id_to_token.size();
}

std::string StreamDecoder::push(TokenId id) {
    if (skip_special_ && tokenizer_.is_special(id)) return {};
    pending_ += tokenizer_.token_bytes(id);
    std::string out;
    const std::size_t held = utf8::append_lossy(out, pending_, true);
    pending_.erase(0, pending_.size() - held);
    return out;
}

std::string StreamDecoder::finish() {
    std::string out;
    utf8::append_lossy(out, pending_, false);
    pending_.clear();
    return out;
}

}  // namespace deskpilot::model::engine
