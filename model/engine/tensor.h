// Tensor: a typed, strided view of memory that someone else may own (a mapped checkpoint file,
// an arena, a CUDA buffer). Views share storage; nothing here copies data unless the function
// name says so (copy_contiguous, to_f32).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/engine/dtype.h"

namespace deskpilot::model::engine {

enum class Device : std::uint8_t { Cpu, Cuda };

// Misuse of a tensor (wrong dtype, out-of-range view, non-contiguous reshape).
class TensorError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using Shape = std::vector<std::int64_t>;

std::string shape_to_string(const Shape& shape);

class Tensor {
  public:
    Tensor() = default;

    // A new contiguous CPU tensor, zero-filled, 64-byte aligned.
    static Tensor zeros(DType dtype, Shape shape);
    // A contiguous view over memory kept alive by `owner` (may be null for borrowed memory
    // whose lifetime the caller guarantees).
    static Tensor wrap(void* data, DType dtype, Shape shape, std::shared_ptr<const void> owner,
                       Device device = Device::Cpu);

    bool defined() const { return data_ != nullptr || numel() == 0; }
    DType dtype() const { return dtype_; }
    Device device() const { return device_; }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }  // in elements
    int dim() const { return int(shape_.size()); }
    std::int64_t size(int d) const;
    std::int64_t stride(int d) const;
    std::int64_t numel() const;
    std::size_t nbytes() const { return std::size_t(numel()) * dtype_size(dtype_); }
    bool is_contiguous() const;

    void* raw() const { return data_; }
    template <typename T>
    T* data() const {
        check_type(sizeof(T));
        return static_cast<T*>(data_);
    }

    // Views (share storage).
    Tensor view(Shape shape) const;                                   // contiguous tensors only
    Tensor slice(int d, std::int64_t begin, std::int64_t end) const;  // [begin, end) along d
    Tensor select(int d, std::int64_t index) const;                   // drops dimension d
    Tensor transpose(int d0, int d1) const;

    // Explicit copies.
    Tensor copy_contiguous() const;
    Tensor to_f32() const;  // converts any dtype to a new contiguous f32 tensor

    // Element read with conversion to float (slow; tests and debugging).
    float at(std::initializer_list<std::int64_t> index) const;

  private:
    void check_type(std::size_t element_size) const;
    int check_dim(int d) const;

    std::shared_ptr<const void> owner_;
    void* data_ = nullptr;
    DType dtype_ = DType::F32;
    Device device_ = Device::Cpu;
    Shape shape_;
    Shape strides_;
};

}  // namespace deskpilot::model::engine
