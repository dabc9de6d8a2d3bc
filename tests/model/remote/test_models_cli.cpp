// `deskpilot models` against the loopback OpenAI server.
#include <QProcess>
#include <QtTest>

#include "openai_server.h"

using deskpilot::testing::OpenAiServer;
using deskpilot::testing::ScriptedReply;

namespace {

constexpr const char* kKey = "sk-cli-test-0123456789";

struct Result {
    int code;
    QString out;
    QString err;
};

Result run(const QStringList& args, const QMap<QString, QString>& env = {}) {
    QProcess p;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert("NO_PROXY", "127.0.0.1,localhost");  // loopback never via a proxy
    environment.insert("no_proxy", "127.0.0.1,localhost");
    for (auto it = env.begin(); it != env.end(); ++it) environment.insert(it.key(), it.value());
    p.setProcessEnvironment(environment);
    p.start(QString(DESKPILOT_BIN_DIR) + "/deskpilot", QStringList{"models"} + args);
    if (!p.waitForFinished(30000)) p.kill();
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
            QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

QString url(const std::string& s) {
    return QString::fromStdString(s);
}

}  // namespace

class ModelsCliTest : public QObject {
    Q_OBJECT
  private slots:
    void listsTheServersModels() {
        OpenAiServer server;
        server.set_models({"ui-tars-1.5-7b", "qwen3-vl-30b-a3b"});
        for (const QString& endpoint : {url(server.base_url()), url(server.root_url())}) {
            const Result r = run({"--endpoint", endpoint});
            QVERIFY2(r.code == 0, qPrintable(r.err));
            QCOMPARE(r.out, QString("ui-tars-1.5-7b\nqwen3-vl-30b-a3b\n"));
        }
        QCOMPARE(server.requests().size(), std::size_t(2));
        QCOMPARE(QString::fromStdString(server.requests()[1].path), QString("/v1/models"));
    }

    void sendsTheKeyFromTheNamedVariable() {
        OpenAiServer server;
        server.set_api_key(kKey);
        const Result ok =
            run({"--endpoint", url(server.base_url()), "--api-key-env", "DP_TEST_KEY"},
                {{"DP_TEST_KEY", kKey}});
        QVERIFY2(ok.code == 0, qPrintable(ok.err));
        QCOMPARE(ok.out, QString("ui-tars-1.5-7b\n"));

        const Result wrong =
            run({"--endpoint", url(server.base_url()), "--api-key-env", "DP_TEST_KEY"},
                {{"DP_TEST_KEY", "sk-wrong-987654321"}});
        QCOMPARE(wrong.code, 1);
        QVERIFY2(
            wrong.err.contains("rejected the API key from $DP_TEST_KEY (HTTP 401 Unauthorized)"),
            qPrintable(wrong.err));
        QVERIFY(!wrong.err.contains("sk-wrong-987654321") &&
                !wrong.out.contains("sk-wrong-987654321"));

        const Result none = run({"--endpoint", url(server.base_url())});
        QCOMPARE(none.code, 1);
        QVERIFY2(none.err.contains("--api-key-env"), qPrintable(none.err));

        const Result unset =
            run({"--endpoint", url(server.base_url()), "--api-key-env", "DP_TEST_KEY_UNSET"});
        QCOMPARE(unset.code, 1);
        QVERIFY2(unset.err.contains("DP_TEST_KEY_UNSET is not set"), qPrintable(unset.err));
    }

    void checksOneModel() {
        OpenAiServer server;
        server.set_models({"a", "b"});
        const Result ok = run({"--endpoint", url(server.base_url()), "--model", "b"});
        QVERIFY2(ok.code == 0, qPrintable(ok.err));
        QCOMPARE(ok.out, QString("b\n"));
        const Result missing = run({"--endpoint", url(server.base_url()), "--model", "c"});
        QCOMPARE(missing.code, 1);
        QVERIFY2(missing.err.contains("model 'c' not found at " + url(server.base_url()) +
                                      "; the server offers: a, b"),
                 qPrintable(missing.err));
    }

    void sendsExtraHeaders() {
        OpenAiServer server;
        const Result r = run({"--endpoint", url(server.base_url()), "--header", "X-Org: acme"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(server.requests().at(0).header("x-org"), std::string("acme"));
        const Result bad = run({"--endpoint", url(server.base_url()), "--header", "no-colon"});
        QCOMPARE(bad.code, 1);
        QVERIFY2(bad.err.contains("expected 'Name: value'"), qPrintable(bad.err));
    }

    void explainsBadEndpointsAndAnswers() {
        const Result usage = run({});
        QCOMPARE(usage.code, 2);
        QVERIFY2(usage.err.contains("--endpoint"), qPrintable(usage.err));

        const Result scheme = run({"--endpoint", "localhost:8000"});
        QCOMPARE(scheme.code, 1);
        QVERIFY2(scheme.err.contains("endpoint 'localhost:8000': not an http:// or https:// URL"),
                 qPrintable(scheme.err));

        const Result refused = run({"--endpoint", "http://127.0.0.1:1/v1", "--retries", "0"});
        QCOMPARE(refused.code, 1);
        QVERIFY2(refused.err.contains("cannot reach http://127.0.0.1:1/v1/models"),
                 qPrintable(refused.err));

        OpenAiServer server;
        server.set_models_reply(ScriptedReply::raw(200, "text/html", "<html>login</html>"));
        const Result html = run({"--endpoint", url(server.base_url())});
        QCOMPARE(html.code, 1);
        QVERIFY2(html.err.contains("is not JSON: '<html>login</html>'"), qPrintable(html.err));

        server.set_models_reply(std::nullopt);
        OpenAiServer other;
        other.set_models_reply(
            ScriptedReply::raw(404, "application/json", R"({"detail":"Not Found"})"));
        const Result notfound = run({"--endpoint", url(other.root_url()) + "/api"});
        QCOMPARE(notfound.code, 1);
        QVERIFY2(notfound.err.contains("/api/models was not found (HTTP 404)"),
                 qPrintable(notfound.err));
    }

    void retriesABusyServer() {
        OpenAiServer server;
        server.set_models_reply(ScriptedReply::too_many_requests("0"));
        const Result r = run({"--endpoint", url(server.base_url()), "--retries", "2"});
        QCOMPARE(r.code, 1);
        QCOMPARE(server.requests().size(), std::size_t(3));
        QVERIFY2(r.err.count("retrying in") == 2, qPrintable(r.err));
        QVERIFY2(r.err.contains("gave up after 3 attempts"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(ModelsCliTest)
#include "test_models_cli.moc"
