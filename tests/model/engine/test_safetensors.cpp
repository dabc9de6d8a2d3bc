// The safetensors loader on real files written here: good single files, sharded folders, and
// one corrupt file per validation rule, each of which must fail with a message naming the
// file and the tensor.
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

#include "model/engine/safetensors.h"
#include "safetensors_writer.h"

using namespace deskpilot::model::engine;
using namespace deskpilot::test;
namespace fs = std::filesystem;

namespace {

std::string error_of(const fs::path& p) {
    try {
        Checkpoint c(p);
        return "";
    } catch (const CheckpointError& e) {
        return e.what();
    }
}

std::vector<std::uint8_t> zeros(std::size_t n) {
    return std::vector<std::uint8_t>(n, 0);
}

}  // namespace

class SafetensorsTest : public QObject {
    Q_OBJECT
  private:
    QTemporaryDir dir_;
    fs::path at(const char* name) { return fs::path(dir_.path().toStdString()) / name; }

    void expect_error(const char* file, const std::string& header, std::size_t data_bytes,
                      std::initializer_list<const char*> needles,
                      std::uint64_t declared = UINT64_MAX) {
        const fs::path p = at(file);
        write_raw_safetensors(p, header, zeros(data_bytes), declared);
        const std::string msg = error_of(p);
        QVERIFY2(!msg.empty(), file);
        QVERIFY2(msg.find(p.string()) != std::string::npos, msg.c_str());
        for (const char* n : needles) QVERIFY2(msg.find(n) != std::string::npos, msg.c_str());
    }

  private slots:
    void singleFileTensorsAreViewsIntoTheMapping() {
        const std::vector<float> a = {1, 2, 3, 4, 5, 6};
        const std::vector<std::uint16_t> b = {f32_to_bf16(0.5f), f32_to_bf16(-2.0f)};
        const std::vector<std::uint16_t> c = {f32_to_f16(3.0f)};
        write_safetensors(at("one.safetensors"), {{"a", "F32", {2, 3}, as_bytes(a)},
                                                  {"b", "BF16", {2}, as_bytes(b)},
                                                  {"c", "F16", {1, 1}, as_bytes(c)},
                                                  {"ids", "I64", {1}, zeros(8)}});
        Checkpoint ck(at("one.safetensors"));
        QCOMPARE(ck.file_count(), std::size_t(1));
        QCOMPARE(ck.names().size(), std::size_t(4));
        Tensor ta = ck.get("a");
        QCOMPARE(ta.dtype(), DType::F32);
        QCOMPARE(ta.shape(), (Shape{2, 3}));
        QCOMPARE(ta.at({1, 2}), 6.0f);
        QCOMPARE(ck.get("b").at({1}), -2.0f);
        QCOMPARE(ck.get("c").dtype(), DType::F16);
        QCOMPARE(ck.get("c").at({0, 0}), 3.0f);
        // The tensor points into the mapped file (8 + header bytes in), not into a heap copy.
        SafetensorsFile file(at("one.safetensors"));
        const Tensor view = file.get("a");
        const auto* base = file.mapping().data();
        const auto* p = static_cast<const std::uint8_t*>(view.raw());
        QVERIFY(p >= base && p + view.nbytes() <= base + file.mapping().size());
        QCOMPARE(std::memcmp(p, a.data(), 24), 0);
        // An unsupported dtype is validated but refused at use, naming the tensor.
        QVERIFY(ck.has("ids"));
        try {
            ck.get("ids");
            QFAIL("I64 accepted");
        } catch (const CheckpointError& e) {
            QVERIFY(std::string(e.what()).find("'ids'") != std::string::npos);
            QVERIFY(std::string(e.what()).find("I64") != std::string::npos);
        }
        QVERIFY_THROWS_EXCEPTION(CheckpointError, ck.get("nope"));
    }

    void tensorOutlivesCheckpointObject() {
        const std::vector<float> a = {7, 8};
        write_safetensors(at("keep.safetensors"), {{"a", "F32", {2}, as_bytes(a)}});
        Tensor t;
        {
            Checkpoint ck(at("keep.safetensors"));
            t = ck.get("a");
        }
        QCOMPARE(t.at({1}), 8.0f);  // the mapping lives as long as a view of it
    }

    void metadataIsRead() {
        write_raw_safetensors(
            at("meta.safetensors"),
            R"({"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            zeros(4));
        SafetensorsFile f(at("meta.safetensors"));
        QCOMPARE(f.metadata().at("format"), std::string("pt"));
        QCOMPARE(f.entries().size(), std::size_t(1));
    }

    void shardedFolder() {
        const fs::path d = at("sharded");
        fs::create_directories(d);
        const std::vector<float> a = {1, 2}, b = {3, 4, 5};
        write_safetensors(d / "model-00001-of-00002.safetensors",
                          {{"w.a", "F32", {2}, as_bytes(a)}});
        write_safetensors(d / "model-00002-of-00002.safetensors",
                          {{"w.b", "F32", {3}, as_bytes(b)}});
        std::ofstream(d / "model.safetensors.index.json")
            << R"({"metadata":{"total_size":20},"weight_map":{"w.a":"model-00001-of-00002.safetensors","w.b":"model-00002-of-00002.safetensors"}})";
        Checkpoint ck(d);
        QCOMPARE(ck.file_count(), std::size_t(2));
        QCOMPARE(ck.get("w.b").at({2}), 5.0f);
        QCOMPARE(ck.get("w.a").at({0}), 1.0f);
    }

    void shardedFolderErrors() {
        const fs::path d = at("badshard");
        fs::create_directories(d);
        const std::vector<float> a = {1, 2};
        write_safetensors(d / "s1.safetensors", {{"w.a", "F32", {2}, as_bytes(a)}});
        std::ofstream(d / "model.safetensors.index.json")
            << R"({"weight_map":{"w.a":"s1.safetensors","w.b":"s1.safetensors"}})";
        QVERIFY(error_of(d).find("'w.b' is not in its shard") != std::string::npos);
        std::ofstream(d / "model.safetensors.index.json")
            << R"({"weight_map":{"w.a":"missing.safetensors"}})";
        QVERIFY(error_of(d).find("missing.safetensors") != std::string::npos);
        std::ofstream(d / "model.safetensors.index.json")
            << R"({"weight_map":{"w.a":"../s1.safetensors"}})";
        QVERIFY(error_of(d).find("invalid shard") != std::string::npos);
        std::ofstream(d / "model.safetensors.index.json") << "{not json";
        QVERIFY(error_of(d).find("not valid JSON") != std::string::npos);
        const fs::path e = at("emptydir");
        fs::create_directories(e);
        QVERIFY(error_of(e).find("neither") != std::string::npos);
        QVERIFY(error_of(at("does-not-exist")).find("no such file") != std::string::npos);
    }

    void duplicateTensorAcrossShards() {
        const fs::path d = at("dupshard");
        fs::create_directories(d);
        const std::vector<float> a = {1};
        write_safetensors(d / "s1.safetensors", {{"w", "F32", {1}, as_bytes(a)}});
        write_safetensors(d / "s2.safetensors", {{"w", "F32", {1}, as_bytes(a)}});
        std::ofstream(d / "model.safetensors.index.json")
            << R"({"weight_map":{"w":"s1.safetensors","x":"s2.safetensors"}})";
        QVERIFY(error_of(d).find("also appears in") != std::string::npos);
    }

    void corruptHeaders() {
        const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        write_raw_safetensors(at("short.safetensors"), "", {}, 0);
        std::filesystem::resize_file(at("short.safetensors"), 5);
        QVERIFY(error_of(at("short.safetensors")).find("too short") != std::string::npos);
        expect_error("len.safetensors", ok, 8, {"header length", "exceeds the file size"}, 1000000);
        expect_error("json.safetensors", R"({"t":{"dtype":"F32",)", 8, {"not valid JSON"});
        expect_error("array.safetensors", "[1,2]", 0, {"not a JSON object"});
        expect_error("dtype.safetensors",
                     R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8,
                     {"'t'", "unknown dtype 'F33'"});
        expect_error("nodtype.safetensors", R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8,
                     {"'t'", "dtype"});
        expect_error("shape.safetensors",
                     R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8,
                     {"'t'", "shape"});
        expect_error(
            "shapeovf.safetensors",
            R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8,
            {"'t'", "overflows"});
        expect_error("offs.safetensors", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})",
                     8, {"'t'", "data_offsets"});
        expect_error("past.safetensors",
                     R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 8,
                     {"'t'", "past the data area"});
        expect_error("order.safetensors",
                     R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8,
                     {"'t'", "is after end"});
        expect_error("size.safetensors",
                     R"({"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,8]}})", 8,
                     {"'t'", "needs 4"});
        expect_error(
            "overlap.safetensors",
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            12, {"overlaps"});
        expect_error("meta.safetensors", R"({"__metadata__":{"k":1}})", 0, {"__metadata__"});
        expect_error("entry.safetensors", R"({"t":5})", 0, {"'t'", "not an object"});
    }

    void emptyTensorsMayShareAnOffset() {
        write_raw_safetensors(
            at("empty.safetensors"),
            R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            zeros(4));
        QCOMPARE(error_of(at("empty.safetensors")), std::string());
    }

    void misalignedDataIsRefusedNotCopied() {
        // Pad the header so the data area starts one byte past a 4-byte boundary.
        std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
        while ((8 + h.size()) % 4 != 1) h += ' ';
        write_raw_safetensors(at("align.safetensors"), h, zeros(4));
        Checkpoint ck(at("align.safetensors"));
        try {
            ck.get("a");
            QFAIL("misaligned f32 accepted");
        } catch (const CheckpointError& e) {
            QVERIFY(std::string(e.what()).find("aligned") != std::string::npos);
        }
    }
};

QTEST_APPLESS_MAIN(SafetensorsTest)
#include "test_safetensors.moc"
