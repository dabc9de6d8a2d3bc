// deskpilot parse: stdin → JSON on stdout; parse errors → stderr and exit 3; usage errors → 2.
#include <QProcess>
#include <QtTest>

#include <nlohmann/json.hpp>

namespace {

struct Result {
    int code;
    QByteArray out;
    QString err;
};

Result run(const QStringList& args, const QByteArray& input) {
    QProcess p;
    p.start(QStringLiteral(DESKPILOT_BIN_DIR "/deskpilot"), QStringList{"parse"} + args);
    p.write(input);
    p.closeWriteChannel();
    p.waitForFinished(30000);
    return {p.exitCode(), p.readAllStandardOutput(), QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace

class ParseCliTest : public QObject {
    Q_OBJECT
  private slots:
    void printsTheStep() {
        const Result r = run({"--family", "ui-tars-1.0", "--screen", "1920x1080"},
                             "Thought: The OK button is in the dialog.\n"
                             "Action: click(start_box='<|box_start|>(235,512)<|box_end|>')");
        QCOMPARE(r.code, 0);
        const auto json = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(json["thought"].get<std::string>(),
                 std::string("The OK button is in the dialog."));
        QCOMPARE(json["reflection"].get<std::string>(), std::string());
        QCOMPARE(json["actions"].dump(), std::string(R"([{"type":"click","x":451,"y":553}])"));
    }

    void scaleAndFamily() {
        const Result r = run({"--family", "ui-tars-1.5", "--screen", "1440x900", "--scale", "2"},
                             "Action: drag(start_box='(0,0)', end_box='(2884,1792)')");
        QCOMPARE(r.code, 0);
        const auto json = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(json["actions"][0]["x2"].get<int>(), 2880);
        QCOMPARE(json["actions"][0]["y2"].get<int>(), 1800);
    }

    void outOfRangeWarnsOnStderr() {
        const Result r = run({"--family", "doubao", "--screen", "800x600"},
                             "Action: click(point='<point>1200 10</point>')");
        QCOMPARE(r.code, 0);
        QVERIFY2(r.err.contains("warning") && r.err.contains("outside"), qPrintable(r.err));
        QCOMPARE(
            nlohmann::json::parse(r.out.toStdString())["actions"][0]["out_of_range"].get<bool>(),
            true);
    }

    void parseErrorExits3() {
        const Result r = run({"--family", "ui-tars-1.5", "--screen", "1920x1080"},
                             "Action: clik(start_box='(1,2)')");
        QCOMPARE(r.code, 3);
        QVERIFY(r.out.isEmpty());
        QVERIFY2(r.err.contains("unknown action 'clik'"), qPrintable(r.err));
    }

    void invalidUtf8IsReplacedNotFatal() {
        const Result r = run({"--family", "ui-tars-1.0", "--screen", "800x600"},
                             "Action: type(content='a\xff')");
        QCOMPARE(r.code, 0);
        QCOMPARE(
            nlohmann::json::parse(r.out.toStdString())["actions"][0]["text"].get<std::string>(),
            std::string("a\xEF\xBF\xBD"));
    }

    void emptyInputIsAParseError() {
        const Result r = run({"--family", "ui-tars-1.0", "--screen", "800x600"}, "");
        QCOMPARE(r.code, 3);
        QVERIFY2(r.err.contains("empty"), qPrintable(r.err));
    }

    void usageErrors() {
        Result r = run({"--family", "gpt", "--screen", "1920x1080"}, "wait()");
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("unknown --family 'gpt'"), qPrintable(r.err));
        r = run({"--family", "ui-tars-1.5", "--screen", "1920by1080"}, "wait()");
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("1920by1080"), qPrintable(r.err));
        r = run({"--family", "ui-tars-1.5", "--screen", "1920x1080", "--scale", "-1"}, "wait()");
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("scale"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(ParseCliTest)
#include "test_parse_cli.moc"
