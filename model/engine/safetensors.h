// safetensors checkpoints: one file or a sharded folder (model.safetensors.index.json).
// Files are memory-mapped read-only and tensors are views into the mapping, so a checkpoint is
// never copied into RAM. Every header is validated before any offset in it is used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/engine/tensor.h"

namespace deskpilot::model::engine {

// A corrupt, truncated or inconsistent checkpoint. The message names the file (and the tensor
// where one is at fault).
class CheckpointError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// One entry of a safetensors header, after validation. `dtype_tag` is the file's own spelling
// (F32, BF16, I64, ...); `dtype` is set only for the types the engine computes with.
struct TensorEntry {
    std::string name;
    std::string dtype_tag;
    bool supported = false;
    DType dtype = DType::F32;
    Shape shape;
    std::uint64_t begin = 0;  // offsets relative to the start of the data area
    std::uint64_t end = 0;
};

struct SafetensorsHeader {
    std::uint64_t data_start = 0;  // 8 + header length
    std::vector<TensorEntry> tensors;
    std::map<std::string, std::string> metadata;
};

// Validates the header of a safetensors file given its complete bytes; `file_name` only labels
// errors. Throws CheckpointError on anything malformed. This is the fuzzed entry point.
SafetensorsHeader parse_safetensors_header(const std::string& file_name, const std::uint8_t* bytes,
                                           std::size_t size);

// A read-only memory mapping of a whole file.
class MappedFile {
  public:
    explicit MappedFile(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

class SafetensorsFile {
  public:
    explicit SafetensorsFile(const std::filesystem::path& path);
    const std::filesystem::path& path() const { return file_->path(); }
    const MappedFile& mapping() const { return *file_; }
    const std::vector<TensorEntry>& entries() const { return header_.tensors; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    const TensorEntry* find(const std::string& name) const;
    // A view into the mapping; throws CheckpointError if absent or of an unsupported dtype.
    Tensor get(const std::string& name) const;

  private:
    std::shared_ptr<MappedFile> file_;
    SafetensorsHeader header_;
    std::map<std::string, std::size_t> index_;
};

// All tensors of a checkpoint: a single .safetensors file, a folder holding
// model.safetensors.index.json and its shards, or a folder with one model.safetensors.
class Checkpoint {
  public:
    explicit Checkpoint(const std::filesystem::path& path);
    bool has(const std::string& name) const { return where_.count(name) != 0; }
    Tensor get(const std::string& name) const;
    const TensorEntry& entry(const std::string& name) const;
    std::vector<std::string> names() const;
    std::size_t file_count() const { return files_.size(); }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, std::size_t> where_;  // tensor name → index into files_
};

}  // namespace deskpilot::model::engine
