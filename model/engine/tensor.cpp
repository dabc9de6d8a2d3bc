#include "model/engine/tensor.h"

#include <cstdlib>
#include <cstring>

namespace deskpilot::model::engine {

namespace {

Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    std::int64_t s = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        strides[i] = s;
        s *= shape[i];
    }
    return strides;
}

void check_shape(const Shape& shape) {
    for (auto n : shape)
        if (n < 0) throw TensorError("negative dimension in shape " + shape_to_string(shape));
}

float load_as_f32(const void* p, DType t) {
    switch (t) {
        case DType::F32: {
            float f;
            std::memcpy(&f, p, 4);
            return f;
        }
        case DType::F16: {
            std::uint16_t h;
            std::memcpy(&h, p, 2);
            return f16_to_f32(h);
        }
        case DType::BF16: {
            std::uint16_t h;
            std::memcpy(&h, p, 2);
            return bf16_to_f32(h);
        }
    }
    return 0.0f;
}

}  // namespace

std::string shape_to_string(const Shape& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
    check_shape(shape);
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    const std::size_t bytes = (std::size_t(n) * dtype_size(dtype) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes ? bytes : 64);
    if (!p) throw TensorError("out of memory allocating " + std::to_string(bytes) + " bytes");
    std::memset(p, 0, bytes);
    std::shared_ptr<const void> owner(p, [](const void* q) { std::free(const_cast<void*>(q)); });
    return wrap(p, dtype, std::move(shape), std::move(owner));
}

Tensor Tensor::wrap(void* data, DType dtype, Shape shape, std::shared_ptr<const void> owner,
                    Device device) {
    check_shape(shape);
    Tensor t;
    t.owner_ = std::move(owner);
    t.data_ = data;
    t.dtype_ = dtype;
    t.device_ = device;
    t.strides_ = contiguous_strides(shape);
    t.shape_ = std::move(shape);
    return t;
}

int Tensor::check_dim(int d) const {
    if (d < 0) d += dim();
    if (d < 0 || d >= dim())
        throw TensorError("dimension " + std::to_string(d) + " out of range for shape " +
                          shape_to_string(shape_));
    return d;
}

std::int64_t Tensor::size(int d) const {
    return shape_[std::size_t(check_dim(d))];
}
std::int64_t Tensor::stride(int d) const {
    return strides_[std::size_t(check_dim(d))];
}

std::int64_t Tensor::numel() const {
    std::int64_t n = 1;
    for (auto d : shape_) n *= d;
    return n;
}

bool Tensor::is_contiguous() const {
    std::int64_t s = 1;
    for (std::size_t i = shape_.size(); i-- > 0;) {
        if (shape_[i] != 1 && strides_[i] != s) return false;
        s *= shape_[i];
    }
    return true;
}

void Tensor::check_type(std::size_t element_size) const {
    if (element_size != dtype_size(dtype_))
        throw TensorError(std::string("tensor of dtype ") + dtype_name(dtype_) + " accessed as a " +
                          std::to_string(element_size) + "-byte type");
}

Tensor Tensor::view(Shape shape) const {
    check_shape(shape);
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    if (n != numel())
        throw TensorError("cannot view " + shape_to_string(shape_) + " as " +
                          shape_to_string(shape) + ": element counts differ");
    if (!is_contiguous())
        throw TensorError("cannot view non-contiguous tensor " + shape_to_string(shape_) +
                          " without a copy; call copy_contiguous() first");
    Tensor t = *this;
    t.strides_ = contiguous_strides(shape);
    t.shape_ = std::move(shape);
    return t;
}

Tensor Tensor::slice(int d, std::int64_t begin, std::int64_t end) const {
    d = check_dim(d);
    if (begin < 0 || end < begin || end > shape_[std::size_t(d)])
        throw TensorError("slice [" + std::to_string(begin) + ", " + std::to_string(end) +
                          ") out of range for dimension " + std::to_string(d) + " of " +
                          shape_to_string(shape_));
    Tensor t = *this;
    t.data_ = static_cast<char*>(data_) +
              begin * strides_[std::size_t(d)] * std::int64_t(dtype_size(dtype_));
    t.shape_[std::size_t(d)] = end - begin;
    return t;
}

Tensor Tensor::select(int d, std::int64_t index) const {
    d = check_dim(d);
    Tensor t = slice(d, index, index + 1);
    t.shape_.erase(t.shape_.begin() + d);
    t.strides_.erase(t.strides_.begin() + d);
    return t;
}

Tensor Tensor::transpose(int d0, int d1) const {
    d0 = check_dim(d0);
    d1 = check_dim(d1);
    Tensor t = *this;
    std::swap(t.shape_[std::size_t(d0)], t.shape_[std::size_t(d1)]);
    std::swap(t.strides_[std::size_t(d0)], t.strides_[std::size_t(d1)]);
    return t;
}

namespace {

// Calls f(source_element_offset, destination_index) for every element in row-major order.
template <typename F>
void for_each_offset(const Shape& shape, const Shape& strides, F&& f) {
    const std::size_t nd = shape.size();
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    if (n == 0) return;
    std::vector<std::int64_t> idx(nd, 0);
    std::int64_t off = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        f(off, i);
        for (std::size_t k = nd; k-- > 0;) {
            if (++idx[k] < shape[k]) {
                off += strides[k];
                break;
            }
            off -= strides[k] * (shape[k] - 1);
            idx[k] = 0;
        }
    }
}

}  // namespace

Tensor Tensor::copy_contiguous() const {
    if (device_ != Device::Cpu)
        throw TensorError("copy_contiguous: only CPU tensors can be copied on the host");
    Tensor out = zeros(dtype_, shape_);
    const std::size_t es = dtype_size(dtype_);
    const char* src = static_cast<const char*>(data_);
    char* dst = static_cast<char*>(out.data_);
    for_each_offset(shape_, strides_, [&](std::int64_t off, std::int64_t i) {
        std::memcpy(dst + i * std::int64_t(es), src + off * std::int64_t(es), es);
    });
    return out;
}

Tensor Tensor::to_f32() const {
    if (device_ != Device::Cpu)
        throw TensorError("to_f32: only CPU tensors can be converted on the host");
    Tensor out = zeros(DType::F32, shape_);
    const std::size_t es = dtype_size(dtype_);
    const char* src = static_cast<const char*>(data_);
    float* dst = static_cast<float*>(out.data_);
    for_each_offset(shape_, strides_, [&](std::int64_t off, std::int64_t i) {
        dst[i] = load_as_f32(src + off * std::int64_t(es), dtype_);
    });
    return out;
}

float Tensor::at(std::initializer_list<std::int64_t> index) const {
    if (index.size() != shape_.size())
        throw TensorError("at(): " + std::to_string(index.size()) + " indices for shape " +
                          shape_to_string(shape_));
    std::int64_t off = 0;
    std::size_t k = 0;
    for (auto i : index) {
        if (i < 0 || i >= shape_[k])
            throw TensorError("at(): index out of range for shape " + shape_to_string(shape_));
        off += i * strides_[k++];
    }
    return load_as_f32(static_cast<const char*>(data_) + off * std::int64_t(dtype_size(dtype_)),
                       dtype_);
}

}  // namespace deskpilot::model::engine
