// SmallVector<T, N>: a vector whose first N elements live inside it. A parsed response has a
// handful of calls and arguments, so the grammar's common case never allocates; hostile input
// with more spills to the heap. Only for trivially copyable T (views and integers), which keeps
// it short: no element constructors or destructors to run.
#pragma once

#include <cstddef>
#include <new>
#include <span>
#include <type_traits>
#include <vector>

namespace deskpilot::planner {

template <class T, std::size_t N>
class SmallVector {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

  public:
    SmallVector() {}  // the inline elements stay uninitialised until pushed
    SmallVector(const SmallVector&) = delete;
    SmallVector& operator=(const SmallVector&) = delete;

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    T* data() { return data_; }
    const T* data() const { return data_; }
    T* begin() { return data_; }
    T* end() { return data_ + size_; }
    const T* begin() const { return data_; }
    const T* end() const { return data_ + size_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }
    T& back() { return data_[size_ - 1]; }
    std::span<const T> span(std::size_t first, std::size_t count) const {
        return {data_ + first, count};
    }

    // The common case is one compare and one store: data_ points at the inline elements or at
    // the heap block, so neither push_back nor data() asks which.
    T& push_back(const T& value) {
        if (size_ == capacity_) [[unlikely]]
            grow();
        data_[size_] = value;
        return data_[size_++];
    }
    // A new default-initialised element at the end, for the caller to fill field by field: a
    // whole element built in a local and copied in is written to the stack in pieces and read
    // back at once in wider loads (a store-forwarding stall per element).
    T& emplace_back() {
        if (size_ == capacity_) [[unlikely]]
            grow();
        return *::new (static_cast<void*>(data_ + size_++)) T;
    }
    void clear() {
        heap_.clear();
        data_ = items_;
        capacity_ = N;
        size_ = 0;
    }

  private:
    [[gnu::noinline]] void grow() {
        std::vector<T> bigger(data_, data_ + size_);
        bigger.resize(2 * capacity_);
        heap_.swap(bigger);
        data_ = heap_.data();
        capacity_ = heap_.size();
    }

    union {
        T items_[N];
    };
    T* data_ = items_;
    std::size_t size_ = 0;
    std::size_t capacity_ = N;
    std::vector<T> heap_;  // all elements once there are more than N
};

}  // namespace deskpilot::planner
