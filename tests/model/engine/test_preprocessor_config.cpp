// preprocessor_config.json: the committed nano checkpoint's, both spellings of the pixel bounds
// (top level and Qwen3-VL's `size`), a folder without one, and one error per problem, each
// naming the file and the field.
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "model/engine/config.h"
#include "model/engine/preprocessor_config.h"

using namespace deskpilot::model::engine;
namespace fs = std::filesystem;

class TestPreprocessorConfig : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;

    fs::path folder() const { return fs::path(dir_.path().toStdString()); }

    void write(const std::string& text) const {
        std::ofstream(folder() / "preprocessor_config.json") << text;
    }

    // The ConfigError message for `text`, or "" when it loads.
    std::string error_for(const std::string& text) const {
        write(text);
        try {
            apply_preprocessor_config(folder(), kQwen3VlPreprocess);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    }

  private slots:
    void folderWithoutOneKeepsTheArchitecture() {
        fs::remove(folder() / "preprocessor_config.json");
        const CheckpointPreprocess p = apply_preprocessor_config(folder(), kQwen25VlPreprocess);
        QVERIFY(!p.pixel_bounds);
        QCOMPARE(p.params.resize.max_pixels, kQwen25VlPreprocess.resize.max_pixels);
        QCOMPARE(p.params.mean[0], kQwen25VlPreprocess.mean[0]);
    }

    void committedNanoCheckpoint() {
        const fs::path nano = fs::path(DESKPILOT_SOURCE_DIR) / "models/deskpilot-nano";
        if (!fs::exists(nano / "preprocessor_config.json"))
            QSKIP("models/deskpilot-nano/preprocessor_config.json is missing");
        const CheckpointPreprocess p = apply_preprocessor_config(nano, kQwen3VlPreprocess);
        QVERIFY(p.pixel_bounds);
        QCOMPARE(p.params.resize.min_pixels, std::int64_t(65536));
        QCOMPARE(p.params.resize.max_pixels, std::int64_t(640 * 400));
        QCOMPARE(p.params.resize.factor, 32);
        QCOMPARE(p.params.mean[1], 0.5f);
        QCOMPARE(p.params.std[2], 0.5f);
    }

    void bothSpellingsOfTheBounds() {
        write(R"({"size": {"shortest_edge": 100000, "longest_edge": 576000}})");
        CheckpointPreprocess p = apply_preprocessor_config(folder(), kQwen3VlPreprocess);
        QVERIFY(p.pixel_bounds);
        QCOMPARE(p.params.resize.min_pixels, std::int64_t(100000));
        QCOMPARE(p.params.resize.max_pixels, std::int64_t(576000));
        // The top-level fields win over `size` (Qwen2-VL processors write both).
        write(R"({"min_pixels": 3136, "max_pixels": 200704,
                  "size": {"shortest_edge": 100000, "longest_edge": 576000}})");
        p = apply_preprocessor_config(folder(), kQwen3VlPreprocess);
        QCOMPARE(p.params.resize.min_pixels, std::int64_t(3136));
        QCOMPARE(p.params.resize.max_pixels, std::int64_t(200704));
        // Only the normalisation: the bounds stay the architecture's, and say so.
        write(R"({"image_mean": [0.1, 0.2, 0.3], "image_std": [1, 2, 3], "patch_size": 16})");
        p = apply_preprocessor_config(folder(), kQwen3VlPreprocess);
        QVERIFY(!p.pixel_bounds);
        QCOMPARE(p.params.resize.max_pixels, kQwen3VlPreprocess.resize.max_pixels);
        QCOMPARE(p.params.mean[2], 0.3f);
        QCOMPARE(p.params.std[1], 2.0f);
    }

    void eachProblemNamesTheFileAndTheField() {
        const struct {
            const char* text;
            const char* names;
        } cases[] = {
            {"{ not json", "not valid JSON"},
            {"[1, 2]", "is not a JSON object"},
            {R"({"max_pixels": "big"})", "max_pixels is not a whole number"},
            {R"({"max_pixels": 1.5})", "max_pixels is not a whole number"},
            {R"({"min_pixels": -1})", "min_pixels is -1, not positive"},
            {R"({"size": {"longest_edge": 0}})", "size.longest_edge is 0, not positive"},
            {R"({"min_pixels": 600000, "max_pixels": 576000})",
             "min_pixels 600000 is above max_pixels 576000"},
            {R"({"patch_size": 14})",
             "patch_size is 14 but config.json's vision config has "
             "patch_size 16"},
            {R"({"merge_size": 4})",
             "merge_size is 4 but config.json's vision config has "
             "spatial_merge_size 2"},
            {R"({"image_mean": [0.5, 0.5]})", "image_mean is not a list of three numbers"},
            {R"({"image_std": [0.5, 0, 0.5]})", "image_std has a 0"},
        };
        for (const auto& c : cases) {
            const std::string error = error_for(c.text);
            QVERIFY2(error.find("preprocessor_config.json") != std::string::npos, c.text);
            QVERIFY2(error.find(c.names) != std::string::npos, (error + " | " + c.text).c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestPreprocessorConfig)
#include "test_preprocessor_config.moc"
