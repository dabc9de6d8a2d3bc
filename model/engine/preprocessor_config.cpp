#include "model/engine/preprocessor_config.h"

#include <array>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "model/engine/config.h"

namespace deskpilot::model::engine {

namespace {

using json = nlohmann::json;

struct Reader {
    std::string file;
    const json& j;

    [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
        throw ConfigError(file + ": " + field + " " + problem);
    }

    // A positive integer at `key` (of `in`, named `field`), if there is one.
    std::optional<std::int64_t> count(const json& in, const char* key,
                                      const std::string& field) const {
        if (!in.contains(key) || in.at(key).is_null()) return std::nullopt;
        const json& v = in.at(key);
        if (!v.is_number_integer()) fail(field, "is not a whole number");
        const std::int64_t n = v.get<std::int64_t>();
        if (n <= 0) fail(field, "is " + std::to_string(n) + ", not positive");
        return n;
    }

    void same(const char* key, int expected, const char* what) const {
        if (const auto n = count(j, key, key); n && *n != expected)
            fail(key, "is " + std::to_string(*n) + " but config.json's vision config has " + what +
                          " " + std::to_string(expected));
    }

    void triple(const char* key, std::array<float, 3>& out, bool nonzero) const {
        if (!j.contains(key)) return;
        const json& v = j.at(key);
        if (!v.is_array() || v.size() != 3) fail(key, "is not a list of three numbers");
        for (std::size_t i = 0; i < 3; ++i) {
            if (!v[i].is_number()) fail(key, "is not a list of three numbers");
            out[i] = v[i].get<float>();
            if (nonzero && out[i] == 0.0f) fail(key, "has a 0 (it divides the pixel values)");
        }
    }
};

}  // namespace

CheckpointPreprocess apply_preprocessor_config(const std::filesystem::path& model_dir,
                                               PreprocessParams p) {
    const std::filesystem::path path = model_dir / "preprocessor_config.json";
    if (!std::filesystem::exists(path)) return {p, false};
    std::ifstream in(path);
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) {
        throw ConfigError(path.string() + ": not valid JSON (" + e.what() + ")");
    }
    const Reader r{path.string(), j};
    if (!j.is_object()) r.fail("the file", "is not a JSON object");
    r.same("patch_size", p.patch_size, "patch_size");
    r.same("merge_size", p.merge_size, "spatial_merge_size");
    r.same("temporal_patch_size", p.temporal_patch_size, "temporal_patch_size");

    std::optional<std::int64_t> min = r.count(j, "min_pixels", "min_pixels");
    std::optional<std::int64_t> max = r.count(j, "max_pixels", "max_pixels");
    if (j.contains("size") && j.at("size").is_object()) {
        const json& size = j.at("size");
        if (!min) min = r.count(size, "shortest_edge", "size.shortest_edge");
        if (!max) max = r.count(size, "longest_edge", "size.longest_edge");
    }
    if (min) p.resize.min_pixels = *min;
    if (max) p.resize.max_pixels = *max;
    if (p.resize.min_pixels > p.resize.max_pixels)
        r.fail("min_pixels", std::to_string(p.resize.min_pixels) + " is above max_pixels " +
                                 std::to_string(p.resize.max_pixels));
    r.triple("image_mean", p.mean, false);
    r.triple("image_std", p.std, true);
    return {p, min.has_value() || max.has_value()};
}

}  // namespace deskpilot::model::engine
