// Fields: the header fields of the messages the proxy parses, with an allocator that recycles
// their memory on the worker's thread.
//
//   http::parser<true, http::buffer_body, FieldAllocator<char>> parser;   // or HttpParser<true>
//   appendUpstreamRequestHead(parser.get().base(), head, out);            // const Fields&
//
// Beast allocates every parsed field (name, value and its tree node) on its own, and frees it
// with the message: a dozen allocations and frees per proxied request, more than glibc's
// per-thread cache holds. FieldAllocator serves pieces of up to kFieldBlockSize bytes from a
// per-thread free list of equal blocks (at most kMaxPooledBlocks kept, 1 MiB per thread);
// anything larger goes to operator new. Stateless: every FieldAllocator is equal, so a block
// may be freed on another thread than the one that allocated it (it joins that thread's list).
// Under AddressSanitizer every piece goes to operator new, so that a use after free is caught.
//
// THREAD: any; the free list is thread_local.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <new>
#include <type_traits>

namespace turnpike::proxy {

#if defined(__SANITIZE_ADDRESS__)  // GCC
#define TURNPIKE_POOL_FIELDS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang
#define TURNPIKE_POOL_FIELDS 0
#endif
#endif
#ifndef TURNPIKE_POOL_FIELDS
#define TURNPIKE_POOL_FIELDS 1
#endif

inline constexpr bool kPoolFields = TURNPIKE_POOL_FIELDS != 0;
inline constexpr std::size_t kFieldBlockSize = 256;
inline constexpr std::size_t kMaxPooledBlocks = 4096;

namespace detail {
void* takeFieldBlock();
void returnFieldBlock(void* block) noexcept;
}  // namespace detail

template <class T>
class FieldAllocator {
 public:
  using value_type = T;
  using is_always_equal = std::true_type;

  FieldAllocator() = default;
  template <class U>
  FieldAllocator(const FieldAllocator<U>& /*other*/) noexcept {}  // NOLINT: rebinding

  T* allocate(std::size_t n) {
    if (pooled(n)) return static_cast<T*>(detail::takeFieldBlock());
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* pointer, std::size_t n) noexcept {
    if (pooled(n)) {
      detail::returnFieldBlock(pointer);
    } else {
      ::operator delete(pointer);
    }
  }

  friend bool operator==(const FieldAllocator&, const FieldAllocator&) { return true; }

 private:
  static bool pooled(std::size_t n) {
    return kPoolFields && alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ &&
           n <= kFieldBlockSize / sizeof(T);
  }
};

using Fields = boost::beast::http::basic_fields<FieldAllocator<char>>;

template <bool isRequest>
using HttpParser =
    boost::beast::http::parser<isRequest, boost::beast::http::buffer_body, FieldAllocator<char>>;

}  // namespace turnpike::proxy
