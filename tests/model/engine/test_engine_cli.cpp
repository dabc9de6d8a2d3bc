// `deskpilot tokenize` end to end: the real binary, the real Qwen3 tokenizer (decompressed into
// a temporary folder), stdin in, JSON out; bad inputs exit 1 with a message naming them.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <QDir>
#include <QFile>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/engine/cpu/gemm_bf16.h"
#include "model/engine/native_vlm.h"
#include "model/engine/safetensors.h"
#include "model/engine/tokenizer.h"
#include "test_data.h"
#include "vision/image_io.h"

namespace {

struct Result {
    int code;
    QByteArray out;
    QString err;
};

Result run(const QStringList& args, const QByteArray& input,
           const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(QString(DESKPILOT_BIN_DIR) + "/deskpilot", args);
    p.write(input);
    p.closeWriteChannel();
    p.waitForFinished(60000);
    return {p.exitCode(), p.readAllStandardOutput(), QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace

class EngineCliTest : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString tokenizer_;

  private slots:
    void initTestCase() {
        tokenizer_ = dir_.filePath("tokenizer.json");
        std::ofstream(tokenizer_.toStdString())
            << deskpilot::test::gunzip_file(deskpilot::test::qwen3_tokenizer_path());
    }

    void tokenizeAndDecode() {
        const QByteArray text = "<|im_start|>user\nHello, 世界 👍🏽<|im_end|>";
        const auto ids = deskpilot::test::qwen3_tokenizer().encode(text.toStdString());
        const Result r = run({"tokenize", "--tokenizer", tokenizer_}, text);
        QCOMPARE(r.code, 0);
        QCOMPARE(r.out.trimmed().toStdString(), nlohmann_dump(ids));
        const Result d = run({"tokenize", "--tokenizer", tokenizer_, "--decode"}, r.out);
        QCOMPARE(d.code, 0);
        QCOMPARE(d.out, text);
        const Result s =
            run({"tokenize", "--tokenizer", tokenizer_, "--decode", "--skip-special"}, r.out);
        QCOMPARE(s.out, QByteArray("user\nHello, 世界 👍🏽"));
    }

    void badInputs() {
        Result r = run({"tokenize", "--tokenizer", dir_.filePath("missing.json")}, "x");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("missing.json: cannot open"), qPrintable(r.err));
        r = run({"tokenize", "--tokenizer", tokenizer_, "--decode"}, "not ids");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("JSON array of token ids"), qPrintable(r.err));
        r = run({"tokenize", "--tokenizer", tokenizer_}, "bad \xff utf8");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("not valid UTF-8"), qPrintable(r.err));
        r = run({"tokenize", "--tokenizer", tokenizer_, "--decode"}, "[1, 99999999]");
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("99999999"), qPrintable(r.err));
        r = run({"tokenize"}, "");
        QCOMPARE(r.code, 2);
    }

    void generateMatchesTransformers() {
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny";
        const deskpilot::model::engine::Checkpoint golden(
            (tiny + "/golden.safetensors").toStdString());
        const auto ids_t = golden.get("ids").to_f32();
        QStringList ids;
        for (std::int64_t i = 0; i < ids_t.numel(); ++i)
            ids << QString::number(int(ids_t.data<float>()[i]));
        const QString npy = dir_.filePath("logits.npy");
        const Result r = run({"generate", "--model-dir", tiny, "--ids", ids.join(","),
                              "--max-new-tokens", "3", "--logits-out", npy, "--threads", "2"},
                             {});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto greedy = golden.get("text.greedy").to_f32();
        QCOMPARE(r.out.trimmed(), QString("%1,%2,%3")
                                      .arg(int(greedy.data<float>()[0]))
                                      .arg(int(greedy.data<float>()[1]))
                                      .arg(int(greedy.data<float>()[2]))
                                      .toUtf8());
        QVERIFY2(r.err.contains("prefill: 14 tokens") && r.err.contains("tok/s") &&
                     r.err.contains("peak memory"),
                 qPrintable(r.err));
        // The .npy holds the last prompt position's logits.
        QFile f(npy);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        QVERIFY(bytes.startsWith("\x93NUMPY"));
        const int header = 10 + (uchar(bytes[8]) | uchar(bytes[9]) << 8);
        QVERIFY(bytes.mid(10, header - 10).contains("'shape': (1024,)"));
        QCOMPARE(bytes.size() - header, 1024 * 4);
        const auto want = golden.get("text.logits_last").to_f32();
        const float* got = reinterpret_cast<const float*>(bytes.constData() + header);
        for (int i = 0; i < 1024; ++i)
            QVERIFY(std::fabs(got[i] - want.data<float>()[i]) <=
                    1e-4f * (1 + std::fabs(want.data<float>()[i])));
        // Sampling with a seed repeats.
        const QStringList sampled = {"generate", "--model-dir",      tiny,  "--ids",
                                     "1,2,3",    "--max-new-tokens", "5",   "--temperature",
                                     "1.5",      "--top-p",          "0.9", "--seed",
                                     "7"};
        const Result s1 = run(sampled, {}), s2 = run(sampled, {});
        QCOMPARE(s1.code, 0);
        QCOMPARE(s1.out, s2.out);
        QCOMPARE(s1.out.trimmed().split(',').size(), 5);
    }

    // The banner names the kernels; DESKPILOT_BF16_ACTIVATIONS=0 and DESKPILOT_ISA turn the
    // bf16-activation prefill GEMMs (cpu/gemm_bf16.h) off.
    void kernelChoiceFollowsTheEnvironment() {
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny/bf16";
        const auto banner = [&](const QString& var, const QString& value) {
            QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
            env.remove("DESKPILOT_ISA");
            env.remove("DESKPILOT_BF16_ACTIVATIONS");
            if (!var.isEmpty()) env.insert(var, value);
            const Result r = run({"generate", "--model-dir", tiny, "--ids", "1,2,3,4,5",
                                  "--max-new-tokens", "1", "--threads", "1"},
                                 {}, env);
            if (r.code != 0) qWarning("%s", qPrintable(r.err));
            return r.err;
        };
        QVERIFY(banner("DESKPILOT_ISA", "scalar").trimmed().endsWith("1 threads, scalar"));
        if (!deskpilot::model::engine::cpu::cpu_has_avx512_bf16())
            QSKIP("this CPU has no AVX512_BF16");
        QVERIFY(banner({}, {}).trimmed().endsWith("1 threads, avx512f+bf16"));
        QVERIFY(banner("DESKPILOT_BF16_ACTIVATIONS", "0").trimmed().endsWith("1 threads, avx512f"));
        QVERIFY(banner("DESKPILOT_ISA", "avx512").trimmed().endsWith("1 threads, avx512f"));
        QVERIFY(banner("DESKPILOT_ISA", "avx2").trimmed().endsWith("1 threads, avx2+fma"));
    }

    void generateWithImage() {
        // The CLI prints what model::NativeVlm answers for one user turn (image, then text).
        const QString dir = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_vision_tiny";
        const Result r = run({"generate", "--model-dir", dir, "--image", dir + "/image.png",
                              "--prompt", "click Apply", "--max-new-tokens", "6"},
                             {});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.err.contains("prompt tokens") && r.err.contains("qwen3_vl_moe"),
                 qPrintable(r.err));
        // The timing line for tools/bench/vlm_vs_llama_cpp.sh: one JSON object whose parts of the
        // time to first token add up to it.
        nlohmann::json stats;
        for (const QString& line : r.err.split('\n'))
            if (line.startsWith("{\"engine\":\"deskpilot\""))
                stats = nlohmann::json::parse(line.toStdString());
        QVERIFY2(stats.is_object(), qPrintable(r.err));
        QVERIFY(stats.at("image_tokens").get<int>() > 0);
        QVERIFY(stats.at("prompt_tokens").get<int>() > stats.at("image_tokens").get<int>());
        QVERIFY(stats.at("vision_ms").get<double>() > 0);
        QCOMPARE(stats.at("completion_tokens").get<int>(), 6);
        QVERIFY(std::abs(stats.at("preprocess_ms").get<double>() +
                         stats.at("vision_ms").get<double>() +
                         stats.at("prefill_ms").get<double>() - stats.at("ttft_ms").get<double>()) <
                0.2);
        namespace dp = deskpilot;
        dp::model::NativeVlm vlm({.model_dir = dir.toStdString()});
        dp::planner::Request req;
        req.messages.push_back(
            {dp::planner::Role::user,
             {dp::planner::ContentPart::of_image(std::make_shared<const dp::vision::Frame>(
                  dp::vision::read_image((dir + "/image.png").toStdString()))),
              dp::planner::ContentPart::of_text("click Apply")}});
        dp::model::GenerateOptions o;
        o.temperature = 0;
        o.top_p = 1;
        o.max_tokens = 6;
        dp::model::CancelToken cancel;
        const auto want = vlm.generate(req, o, {}, cancel);
        QCOMPARE(r.out, QByteArray::fromStdString(want.text + "\n"));

        // --logits-out with --image: the logits after the whole prompt, image included, equal to
        // what NativeVlm computed (tools/train_nano/parity.py compares them with transformers).
        const QString npy = dir_.filePath("image_logits.npy");
        const Result l =
            run({"generate", "--model-dir", dir, "--image", dir + "/image.png", "--prompt",
                 "click Apply", "--max-new-tokens", "1", "--logits-out", npy},
                {});
        QVERIFY2(l.code == 0, qPrintable(l.err));
        QFile f(npy);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        const int header = 10 + (uchar(bytes[8]) | uchar(bytes[9]) << 8);
        QVERIFY(bytes.mid(10, header - 10).contains("'shape': (1024,)"));
        QCOMPARE(bytes.size() - header, 1024 * 4);
        const std::vector<float> expected = vlm.last_prompt_logits();
        QCOMPARE(expected.size(), std::size_t{1024});
        const float* got = reinterpret_cast<const float*>(bytes.constData() + header);
        for (int i = 0; i < 1024; ++i) QCOMPARE(got[i], expected[std::size_t(i)]);
    }

    void generateQwen25() {
        // The Qwen2.5-VL decoder through the CLI: greedy text after text.ids (decoded, since the
        // folder has a tokenizer), the last prompt logits, an image prompt through NativeVlm,
        // and --device cuda refused for this architecture before any GPU is looked for.
        namespace dp = deskpilot;
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen2_5_vl_tiny";
        const dp::model::engine::Checkpoint golden((tiny + "/golden.safetensors").toStdString());
        const auto ids_t = golden.get("text.ids").to_f32();
        QStringList ids;
        for (std::int64_t i = 0; i < ids_t.numel(); ++i)
            ids << QString::number(int(ids_t.data<float>()[i]));
        const QString npy = dir_.filePath("qwen25_logits.npy");
        Result r = run({"generate", "--model-dir", tiny, "--ids", ids.join(","), "--max-new-tokens",
                        "3", "--logits-out", npy, "--threads", "2"},
                       {});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto tok =
            dp::model::engine::Tokenizer::from_file((tiny + "/tokenizer.json").toStdString());
        dp::model::engine::StreamDecoder stream(tok, true);
        std::string want;
        const auto greedy = golden.get("text.greedy").to_f32();
        for (int k = 0; k < 3; ++k) want += stream.push(int(greedy.data<float>()[k]));
        want += stream.finish();
        QCOMPARE(r.out, QByteArray::fromStdString(want + "\n"));
        QFile f(npy);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        const int header = 10 + (uchar(bytes[8]) | uchar(bytes[9]) << 8);
        QCOMPARE(bytes.size() - header, 1024 * 4);
        const auto want_logits = golden.get("text.logits_last").to_f32();
        const float* last = want_logits.data<float>();
        const float* got = reinterpret_cast<const float*>(bytes.constData() + header);
        for (int i = 0; i < 1024; ++i)
            QVERIFY(std::fabs(got[i] - last[i]) <= 1e-4f * (1 + std::fabs(last[i])));

        r = run({"generate", "--model-dir", tiny, "--image", tiny + "/image.png", "--prompt",
                 "click Apply", "--max-new-tokens", "4"},
                {});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.err.contains("native qwen2_5_vl") && r.err.contains("prompt tokens"),
                 qPrintable(r.err));

        // --device cuda with this checkpoint: test_engine_cuda_cli (qwen25TextGenerateTakesCuda).
    }

    void generateWithImageBadInputs() {
        const QString dir = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_vision_tiny";
        Result r = run(
            {"generate", "--model-dir", dir, "--image", dir_.filePath("none.png"), "--prompt", "x"},
            {});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--image") && r.err.contains("none.png"), qPrintable(r.err));
        r = run({"generate", "--model-dir", dir, "--image", dir + "/image.png"}, {});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--prompt"), qPrintable(r.err));
        const QString text_only = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny";
        r = run(
            {"generate", "--model-dir", text_only, "--image", dir + "/image.png", "--prompt", "x"},
            {});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("tokenizer.json is missing"), qPrintable(r.err));
    }

    void generatePromptStreamsText() {
        // A folder with the tiny model and a made-up byte-level tokenizer whose ids fit its
        // 1024-token vocabulary: id b < 256 is byte b, 256..999 are "tok<id>", 1000/1001 special.
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny";
        const QString dir = dir_.filePath("with-tokenizer");
        QDir().mkpath(dir);
        QVERIFY(QFile::copy(tiny + "/config.json", dir + "/config.json"));
        QVERIFY(QFile::copy(tiny + "/model.safetensors", dir + "/model.safetensors"));
        nlohmann::json vocab = nlohmann::json::object();
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool direct = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            const char32_t cp = direct ? char32_t(b) : char32_t(next++);
            std::string sym;
            if (cp < 0x80)
                sym += char(cp);
            else
                sym += char(0xC0 | (cp >> 6)), sym += char(0x80 | (cp & 0x3F));
            vocab[sym] = b;
        }
        for (int id = 256; id < 1000; ++id) vocab["tok" + std::to_string(id)] = id;
        const nlohmann::json tj = {
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
            {"added_tokens",
             {{{"id", 1000}, {"content", "<|im_end|>"}, {"special", true}},
              {{"id", 1001}, {"content", "<|endoftext|>"}, {"special", true}}}},
            {"normalizer", nullptr},
            {"pre_tokenizer",
             {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "Split"},
                 {"pattern", {{"Regex", "\\s+|\\S+"}}},
                 {"behavior", "Isolated"},
                 {"invert", false}},
                {{"type", "ByteLevel"}, {"use_regex", false}}}}}},
            {"decoder", {{"type", "ByteLevel"}}}};
        std::ofstream((dir + "/tokenizer.json").toStdString()) << tj.dump();
        const auto tok =
            deskpilot::model::engine::Tokenizer::from_file((dir + "/tokenizer.json").toStdString());
        const auto ids = tok.encode("hi there");
        QCOMPARE(ids, (std::vector<deskpilot::model::engine::TokenId>{104, 105, 32, 116, 104, 101,
                                                                      114, 101}));
        // The same prompt given as ids and as text generates the same tokens; as text they are
        // streamed decoded.
        const Result by_ids = run({"generate", "--model-dir", tiny, "--ids",
                                   "104,105,32,116,104,101,114,101", "--max-new-tokens", "4"},
                                  {});
        QCOMPARE(by_ids.code, 0);
        std::vector<deskpilot::model::engine::TokenId> gen;
        for (const auto& part : by_ids.out.trimmed().split(',')) gen.push_back(part.toInt());
        const Result by_text = run(
            {"generate", "--model-dir", dir, "--prompt", "hi there", "--max-new-tokens", "4"}, {});
        QVERIFY2(by_text.code == 0, qPrintable(by_text.err));
        QCOMPARE(by_text.out.toStdString(), tok.decode(gen, true) + "\n");
    }

    void generateBadInputs() {
        const QString tiny = QString(DESKPILOT_TEST_DATA_DIR) + "/engine/qwen3_vl_moe_tiny";
        Result r = run({"generate", "--model-dir", dir_.filePath("nope"), "--ids", "1"}, {});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("nope"), qPrintable(r.err));
        r = run({"generate", "--model-dir", tiny}, {});
        QCOMPARE(r.code, 2);
        r = run({"generate", "--model-dir", tiny, "--ids", "1,x"}, {});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("'x' is not a token id"), qPrintable(r.err));
        r = run({"generate", "--model-dir", tiny, "--prompt", "hi"}, {});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("no tokenizer.json"), qPrintable(r.err));
        r = run({"generate", "--model-dir", tiny, "--ids", "1,5000"}, {});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("5000"), qPrintable(r.err));
        // The action grammar shapes an answer about an image; a text prompt is refused, and so is
        // a value other than on or off.
        r = run({"generate", "--model-dir", tiny, "--ids", "1", "--action-grammar", "on"}, {});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--action-grammar applies to an answer about an --image"),
                 qPrintable(r.err));
        r = run({"generate", "--model-dir", tiny, "--ids", "1", "--action-grammar", "maybe"}, {});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--action-grammar"), qPrintable(r.err));
        // A truncated checkpoint: the header promises more data than the file holds.
        const QString broken = dir_.filePath("broken");
        QDir().mkpath(broken);
        QFile::copy(tiny + "/config.json", broken + "/config.json");
        QFile src(tiny + "/model.safetensors");
        QVERIFY(src.open(QIODevice::ReadOnly));
        QFile dst(broken + "/model.safetensors");
        QVERIFY(dst.open(QIODevice::WriteOnly));
        dst.write(src.read(src.size() / 2));
        dst.close();
        r = run({"generate", "--model-dir", broken, "--ids", "1"}, {});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("model.safetensors") && r.err.contains("past the data area"),
                 qPrintable(r.err));
    }

  private:
    static std::string nlohmann_dump(const std::vector<deskpilot::model::engine::TokenId>& ids) {
        std::string s = "[";
        for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
        return s + "]";
    }
};

QTEST_APPLESS_MAIN(EngineCliTest)
#include "test_engine_cli.moc"
