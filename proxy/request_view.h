// RequestView: the parts of an HTTP request that routing looks at, as non-owning views.
//
// The network layer fills one per request from whatever parser it uses (Beast today) and passes
// it to Router::match(); nothing is copied and nothing is allocated.
//
//   auto [path, query] = splitTarget(req.target());
//   RequestView view{req.method_string(), req[http::field::host], path,
//                    HeaderView::ofFields(req.fields())};
//   RouteMatch m = snapshot.router().match(view);
//
// Ownership: every view points into the caller's request; the request must outlive the
// RequestView and any RouteMatch made from it (RouteMatch::params point into the path).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace turnpike::proxy {

// A non-owning reference to a callable (like absl::FunctionRef): cheap to pass by value, never
// allocates. The referenced callable must outlive the FunctionRef.
template <class Signature>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
           std::is_invocable_r_v<R, F&, Args...>) FunctionRef(F&& f)
  noexcept  // NOLINT: implicit by design, like a lambda argument
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, Args... args) -> R {
          return std::invoke(*static_cast<std::remove_reference_t<F>*>(obj),
                             std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

// One request header field as received.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// ASCII case-insensitive equality (header names, host names).
bool equalsIgnoreCase(std::string_view a, std::string_view b);

// Read-only, type-erased access to a request's header fields. Names compare ASCII
// case-insensitively; values are compared exactly (no trimming beyond what the parser did).
// A field that occurs several times is visited once per occurrence; a comma-separated value is
// one value (it is not split).
//
// Thread: a HeaderView is used by the thread that owns the request. Cost: visit() is one pass
// over the fields, comparing names of the same length only.
class HeaderView {
 public:
  // Called once per value; returns true to stop visiting.
  using Visitor = FunctionRef<bool(std::string_view value)>;

  // No headers at all.
  HeaderView() = default;

  // Over a caller-owned array of fields (tests, the admin explain endpoint).
  explicit HeaderView(std::span<const HeaderField> fields)
      : obj_(fields.data()), size_(fields.size()), visit_(&visitSpan) {}

  // Over a container of fields with Beast's interface (`name_string()`, `value()`), e.g.
  // proxy::Fields or `boost::beast::http::fields`, in their order. `fields` must outlive the view.
  // A pass over a request's dozen fields costs less than Beast's equal_range() (a tree of
  // case-insensitive comparisons).
  template <class Fields>
  static HeaderView ofFields(const Fields& fields) {
    HeaderView view;
    view.obj_ = &fields;
    view.visit_ = [](const void* obj, std::size_t, std::string_view name, Visitor visitor) -> bool {
      for (const auto& field : *static_cast<const Fields*>(obj)) {
        const auto field_name = field.name_string();
        // The length first, inline: most fields are skipped without a call.
        if (field_name.size() != name.size() ||
            !equalsIgnoreCase(std::string_view(field_name.data(), field_name.size()), name)) {
          continue;
        }
        const auto value = field.value();
        if (visitor(std::string_view(value.data(), value.size()))) return true;
      }
      return false;
    };
    return view;
  }

  // Calls `visitor` with each value of the fields named `name`, in order, until it returns true.
  // Returns true iff the visitor returned true.
  bool visit(std::string_view name, Visitor visitor) const {
    return visit_ != nullptr && visit_(obj_, size_, name, visitor);
  }

  // True when a field named `name` has one of `accepted` as its value; with `accepted` empty,
  // true when the field is present at all.
  bool hasAnyOf(std::string_view name, std::span<const std::string> accepted) const;

 private:
  using VisitFn = bool (*)(const void* obj, std::size_t size, std::string_view name,
                           Visitor visitor);
  static bool visitSpan(const void* obj, std::size_t size, std::string_view name, Visitor visitor);

  const void* obj_ = nullptr;
  std::size_t size_ = 0;
  VisitFn visit_ = nullptr;
};

// What the router needs of a request.
struct RequestView {
  std::string_view method;  // "GET"; HTTP methods are case-sensitive and compared exactly
  std::string_view host;    // Host header (or :authority) as received, port included: "A.com:8443"
  std::string_view path;    // origin-form path without the query, not decoded: "/orders/7"
  HeaderView headers;
};

// An origin-form request target split at the first '?': "/a/b?x=1" -> {"/a/b", "x=1"}.
struct TargetParts {
  std::string_view path;
  std::string_view query;  // without the '?'; empty when there is none
};
TargetParts splitTarget(std::string_view target);

}  // namespace turnpike::proxy
