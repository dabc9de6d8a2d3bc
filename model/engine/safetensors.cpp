#include "model/engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace deskpilot::model::engine {

namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
    throw CheckpointError(file + ": " + what);
}
[[noreturn]] void fail_tensor(const std::string& file, const std::string& tensor,
                              const std::string& what) {
    throw CheckpointError(file + ": tensor '" + tensor + "': " + what);
}

// Every dtype the safetensors format defines, with its size in bytes. Types the engine does
// not compute with are still validated, so a header cannot hide bad offsets behind them.
struct DtypeSpec {
    const char* tag;
    std::uint64_t size;
};
constexpr DtypeSpec kDtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
};

const DtypeSpec* find_dtype(const std::string& tag) {
    for (const auto& d : kDtypes)
        if (tag == d.tag) return &d;
    return nullptr;
}

bool mul_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
    return __builtin_mul_overflow(a, b, &out);
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const std::string& file, const std::uint8_t* bytes,
                                           std::size_t size) {
    if (size < 8)
        fail(file, "file is " + std::to_string(size) +
                       " bytes, too short for a safetensors header length");
    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = header_len << 8 | bytes[i];  // little-endian
    if (header_len > size - 8)
        fail(file, "header length " + std::to_string(header_len) + " exceeds the file size " +
                       std::to_string(size));
    if (header_len == 0) fail(file, "header is empty");

    json doc;
    try {
        doc = json::parse(bytes + 8, bytes + 8 + header_len);
    } catch (const json::exception& e) {
        fail(file, std::string("header is not valid JSON: ") + e.what());
    }
    if (!doc.is_object()) fail(file, "header is not a JSON object");

    SafetensorsHeader header;
    header.data_start = 8 + header_len;
    const std::uint64_t data_size = size - header.data_start;

    for (auto it = doc.begin(); it != doc.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) fail(file, "__metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string())
                    fail(file, "__metadata__ value '" + m.key() + "' is not a string");
                header.metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        if (!v.is_object()) fail_tensor(file, name, "entry is not an object");
        TensorEntry e;
        e.name = name;

        const auto dt = v.find("dtype");
        if (dt == v.end() || !dt->is_string())
            fail_tensor(file, name, "missing or non-string dtype");
        e.dtype_tag = dt->get<std::string>();
        const DtypeSpec* spec = find_dtype(e.dtype_tag);
        if (!spec) fail_tensor(file, name, "unknown dtype '" + e.dtype_tag + "'");
        if (e.dtype_tag == "F32") e.supported = true, e.dtype = DType::F32;
        if (e.dtype_tag == "F16") e.supported = true, e.dtype = DType::F16;
        if (e.dtype_tag == "BF16") e.supported = true, e.dtype = DType::BF16;

        const auto sh = v.find("shape");
        if (sh == v.end() || !sh->is_array()) fail_tensor(file, name, "missing or non-array shape");
        std::uint64_t elements = 1;
        for (const auto& d : *sh) {
            if (!d.is_number_unsigned())
                fail_tensor(file, name, "shape holds a value that is not a non-negative integer");
            const auto n = d.get<std::uint64_t>();
            if (n > std::uint64_t(std::numeric_limits<std::int64_t>::max()) ||
                mul_overflows(elements, n, elements))
                fail_tensor(file, name, "shape " + sh->dump() + " overflows");
            e.shape.push_back(std::int64_t(n));
        }
        std::uint64_t expected_bytes = 0;
        if (mul_overflows(elements, spec->size, expected_bytes))
            fail_tensor(file, name, "byte size overflows");

        const auto off = v.find("data_offsets");
        if (off == v.end() || !off->is_array() || off->size() != 2 ||
            !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
            fail_tensor(file, name, "data_offsets must be an array of two non-negative integers");
        e.begin = (*off)[0].get<std::uint64_t>();
        e.end = (*off)[1].get<std::uint64_t>();
        if (e.begin > e.end)
            fail_tensor(file, name,
                        "data_offsets begin " + std::to_string(e.begin) + " is after end " +
                            std::to_string(e.end));
        if (e.end > data_size)
            fail_tensor(file, name,
                        "data_offsets end " + std::to_string(e.end) +
                            " lies past the data area of " + std::to_string(data_size) + " bytes");
        if (e.end - e.begin != expected_bytes)
            fail_tensor(file, name,
                        "holds " + std::to_string(e.end - e.begin) + " bytes but shape " +
                            sh->dump() + " of " + e.dtype_tag + " needs " +
                            std::to_string(expected_bytes));
        header.tensors.push_back(std::move(e));
    }

    // No two tensors may share bytes (empty tensors occupy none).
    std::vector<const TensorEntry*> order;
    for (const auto& e : header.tensors)
        if (e.end > e.begin) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < order.size(); ++i)
        if (order[i]->begin < order[i - 1]->end)
            fail_tensor(file, order[i]->name, "overlaps tensor '" + order[i - 1]->name + "'");
    return header;
}

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw CheckpointError(path.string() + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw CheckpointError(path.string() + ": not a regular file");
    }
    size_ = std::size_t(st.st_size);
    if (size_ > 0) {
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            throw CheckpointError(path.string() + ": cannot map: " + std::strerror(err));
        }
        data_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : file_(std::make_shared<MappedFile>(path)),
      header_(parse_safetensors_header(path.string(), file_->data(), file_->size())) {
    for (std::size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const {
    const TensorEntry* e = find(name);
    if (!e) fail(path().string(), "no tensor named '" + name + "'");
    if (!e->supported)
        fail_tensor(
            path().string(), name,
            "dtype " + e->dtype_tag + " is not supported by the engine (F32, F16, BF16 are)");
    const std::uint8_t* p = file_->data() + header_.data_start + e->begin;
    if (reinterpret_cast<std::uintptr_t>(p) % dtype_size(e->dtype) != 0)
        fail_tensor(path().string(), name, "data is not aligned to its element size");
    // The tensor keeps the mapping alive; the mapping is read-only, so writes would fault.
    return Tensor::wrap(const_cast<std::uint8_t*>(p), e->dtype, e->shape, file_);
}

Checkpoint::Checkpoint(const std::filesystem::path& path) : path_(path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) throw CheckpointError(path.string() + ": no such file or folder");
    auto add_file = [&](const fs::path& p) {
        files_.push_back(std::make_unique<SafetensorsFile>(p));
        const std::size_t k = files_.size() - 1;
        for (const auto& e : files_[k]->entries()) {
            const auto [it, inserted] = where_.emplace(e.name, k);
            if (!inserted)
                throw CheckpointError(p.string() + ": tensor '" + e.name + "' also appears in " +
                                      files_[it->second]->path().string());
        }
    };
    if (!fs::is_directory(path)) {
        add_file(path);
        return;
    }
    const fs::path index = path / "model.safetensors.index.json";
    if (!fs::exists(index)) {
        if (fs::exists(path / "model.safetensors")) {
            add_file(path / "model.safetensors");
            return;
        }
        throw CheckpointError(path.string() +
                              ": holds neither model.safetensors.index.json nor model.safetensors");
    }
    json doc;
    try {
        std::ifstream in(index);
        doc = json::parse(in);
    } catch (const json::exception& e) {
        throw CheckpointError(index.string() + ": not valid JSON: " + e.what());
    }
    if (!doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
        throw CheckpointError(index.string() + ": has no weight_map object");
    std::set<std::string> shards;
    for (auto it = doc["weight_map"].begin(); it != doc["weight_map"].end(); ++it) {
        if (!it.value().is_string())
            throw CheckpointError(index.string() + ": weight_map entry '" + it.key() +
                                  "' is not a string");
        const std::string shard = it.value().get<std::string>();
        if (shard.empty() || shard.find('/') != std::string::npos || shard == "..")
            throw CheckpointError(index.string() + ": weight_map entry '" + it.key() +
                                  "' names an invalid shard '" + shard + "'");
        shards.insert(shard);
    }
    for (const auto& s : shards) add_file(path / s);
    // Each tensor must be where the index says.
    for (auto it = doc["weight_map"].begin(); it != doc["weight_map"].end(); ++it) {
        const auto w = where_.find(it.key());
        const std::string shard = it.value().get<std::string>();
        if (w == where_.end())
            throw CheckpointError(index.string() + ": tensor '" + it.key() +
                                  "' is not in its shard " + shard);
        if (files_[w->second]->path().filename() != shard)
            throw CheckpointError(index.string() + ": tensor '" + it.key() + "' is listed in " +
                                  shard + " but found in " +
                                  files_[w->second]->path().filename().string());
    }
}

const TensorEntry& Checkpoint::entry(const std::string& name) const {
    const auto it = where_.find(name);
    if (it == where_.end())
        throw CheckpointError(path_.string() + ": no tensor named '" + name + "'");
    return *files_[it->second]->find(name);
}

Tensor Checkpoint::get(const std::string& name) const {
    const auto it = where_.find(name);
    if (it == where_.end())
        throw CheckpointError(path_.string() + ": no tensor named '" + name + "'");
    return files_[it->second]->get(name);
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    out.reserve(where_.size());
    for (const auto& [k, v] : where_) out.push_back(k);
    return out;
}

}  // namespace deskpilot::model::engine
