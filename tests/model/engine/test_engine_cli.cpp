// `deskpilot tokenize` end to end: the real binary, the real Qwen3 tokenizer (decompressed into
// a temporary folder), stdin in, JSON out; bad inputs exit 1 with a message naming them.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

#include "test_data.h"

namespace {

struct Result {
    int code;
    QByteArray out;
    QString err;
};

Result run(const QStringList& args, const QByteArray& input) {
    QProcess p;
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

  private:
    static std::string nlohmann_dump(const std::vector<deskpilot::model::engine::TokenId>& ids) {
        std::string s = "[";
        for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
        return s + "]";
    }
};

QTEST_APPLESS_MAIN(EngineCliTest)
#include "test_engine_cli.moc"
