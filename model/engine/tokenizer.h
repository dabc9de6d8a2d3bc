// Byte-level BPE tokenizer read from a Hugging Face tokenizer.json (the Qwen2/2.5/3 family):
// added tokens are found in the raw text first (those marked `normalized` in the normalised
// text), with their lstrip / rstrip / single_word rules as the `tokenizers` library applies
// them; the rest is NFC-normalised, split by the pre-tokenizer's regex (PCRE2 with JIT), mapped
// to byte-level symbols and merged by rank.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace deskpilot::model::engine {

class TokenizerError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using TokenId = std::int32_t;

class Tokenizer {
  public:
    // Throws TokenizerError naming `path` (or `label`) for unreadable, malformed or
    // unsupported files (another model type, normaliser or pre-tokenizer).
    static Tokenizer from_file(const std::filesystem::path& path);
    static Tokenizer from_json(std::string_view json_text, const std::string& label);

    // `parse_special`: recognise special tokens such as <|im_start|> in the text (as the
    // `tokenizers` library does); false treats them as plain text, as tokenizers'
    // encode_special_tokens does (added tokens that are not special are still recognised).
    // Invalid UTF-8 is an error.
    std::vector<TokenId> encode(std::string_view text, bool parse_special = true) const;
    // Invalid byte sequences become U+FFFD, as in `tokenizers`.
    std::string decode(std::span<const TokenId> ids, bool skip_special = false) const;

    std::optional<TokenId> token_to_id(std::string_view token) const;
    // The token's string as stored in the vocabulary (byte-level symbols); throws if unknown.
    const std::string& id_to_token(TokenId id) const;
    bool is_special(TokenId id) const;
    bool is_added(TokenId id) const;
    // One past the largest id.
    std::size_t vocab_size() const;

    // The raw bytes a token stands for (what decode concatenates).
    std::string token_bytes(TokenId id) const;

    struct Impl;

  private:
    std::shared_ptr<const Impl> impl_;
};

// Turns a stream of ids into text as they arrive: bytes of a character split across tokens
// are held back until complete, so every returned piece is valid UTF-8.
class StreamDecoder {
  public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
        : tokenizer_(tokenizer), skip_special_(skip_special) {}
    std::string push(TokenId id);
    // Whatever is still held back (an incomplete character becomes U+FFFD).
    std::string finish();

  private:
    const Tokenizer& tokenizer_;
    bool skip_special_;
    std::string pending_;
};

}  // namespace deskpilot::model::engine
