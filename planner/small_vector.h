// SmallVector<T, N>: a vector whose first N elements live inside it. A parsed response has a
// handful of calls and arguments, so the grammar's common case never allocates; hostile input
// with more spills to the heap. Only for trivially copyable T (views and integers), which keeps
// it short: no element constructors or destructors to run.
#pragma once

#include <cstddef>
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
    T* data() { return heap_.empty() ? items_ : heap_.data(); }
    const T* data() const { return heap_.empty() ? items_ : heap_.data(); }
    T* begin() { return data(); }
    T* end() { return data() + size_; }
    const T* begin() const { return data(); }
    const T* end() const { return data() + size_; }
    T& operator[](std::size_t i) { return data()[i]; }
    const T& operator[](std::size_t i) const { return data()[i]; }
    T& back() { return data()[size_ - 1]; }
    std::span<const T> span(std::size_t first, std::size_t count) const {
        return {data() + first, count};
    }

    T& push_back(const T& value) {
        if (heap_.empty() && size_ < N) {
            items_[size_] = value;
            return items_[size_++];
        }
        if (heap_.empty()) heap_.assign(items_, items_ + size_);
        heap_.push_back(value);
        ++size_;
        return heap_.back();
    }
    void clear() {
        heap_.clear();
        size_ = 0;
    }

  private:
    union {
        T items_[N];
    };
    std::size_t size_ = 0;
    std::vector<T> heap_;  // all elements once there are more than N
};

}  // namespace deskpilot::planner
