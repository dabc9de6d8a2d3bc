// Replays the kept libFuzzer corpus (tests/fuzz/planner/) through the parser, built with the
// normal compiler: every input that once found new coverage must still neither crash nor hang.
#include <QDir>
#include <QFile>
#include <QtTest>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

class FuzzCorpusTest : public QObject {
    Q_OBJECT
  private slots:
    void replaysTheCorpus() {
        const QDir dir(QStringLiteral(DESKPILOT_SOURCE_DIR "/tests/fuzz/planner"));
        const QStringList files = dir.entryList(QDir::Files);
        QVERIFY2(files.size() >= 100,
                 qPrintable(QString("corpus too small: %1 files").arg(files.size())));
        for (const QString& name : files) {
            QFile file(dir.filePath(name));
            QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(name));
            const QByteArray data = file.readAll();
            QCOMPARE(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.constData()),
                                            static_cast<std::size_t>(data.size())),
                     0);
        }
    }
};

QTEST_GUILESS_MAIN(FuzzCorpusTest)
#include "test_fuzz_corpus.moc"
