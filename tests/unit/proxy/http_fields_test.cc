#include "proxy/http_fields.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <string>
#include <thread>
#include <vector>

namespace turnpike::proxy {
namespace {

namespace http = boost::beast::http;

constexpr bool kPooled = kPoolFields;  // off under ASan, which then sees every piece

TEST(HttpFieldsTest, AFreedBlockServesTheNextSmallPieceOnTheSameThread) {
  if (!kPooled) GTEST_SKIP() << "the pool is off under AddressSanitizer";
  FieldAllocator<char> allocator;
  char* first = allocator.allocate(100);
  allocator.deallocate(first, 100);
  char* second = allocator.allocate(kFieldBlockSize);
  EXPECT_EQ(second, first);
  allocator.deallocate(second, kFieldBlockSize);
}

TEST(HttpFieldsTest, LargePiecesAreNotPooledAndAllPiecesAreUsable) {
  FieldAllocator<char> allocator;
  char* small = allocator.allocate(kFieldBlockSize);
  allocator.deallocate(small, kFieldBlockSize);
  char* large = allocator.allocate(kFieldBlockSize + 1);
  if (kPooled) {
    EXPECT_NE(large, small) << "a piece over the block size comes from operator new";
  }
  std::fill(large, large + kFieldBlockSize + 1, 'x');
  allocator.deallocate(large, kFieldBlockSize + 1);
}

TEST(HttpFieldsTest, BlocksFreedOnAnotherThreadAreReusedThere) {
  FieldAllocator<std::string> allocator;  // rebound to another type, as Beast does
  std::vector<std::string*> pieces;
  for (int i = 0; i < 100; ++i) pieces.push_back(allocator.allocate(1));
  std::thread other([&] {
    for (std::string* piece : pieces) allocator.deallocate(piece, 1);
    std::string* again = allocator.allocate(1);
    if (kPooled) {
      EXPECT_EQ(again, pieces.back());
    }
    allocator.deallocate(again, 1);
  });
  other.join();  // the thread's list goes back to the heap when it ends (LeakSanitizer checks)
}

TEST(HttpFieldsTest, AParsedMessageKeepsEveryFieldWhateverItsSize) {
  const std::string long_value(3000, 'v');  // an element over the block size
  std::string wire = "GET /a HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 50; ++i)
    wire += "X-Field-" + std::to_string(i) + ": value " + std::to_string(i) + "\r\n";
  wire += "X-Long: " + long_value + "\r\n\r\n";
  for (int round = 0; round < 3; ++round) {  // later rounds run on recycled blocks
    http::parser<true, http::empty_body, FieldAllocator<char>> parser;
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(wire), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(parser.is_done());
    const Fields& fields = parser.get().base();
    EXPECT_EQ(fields["X-Field-0"], "value 0");
    EXPECT_EQ(fields["x-field-49"], "value 49");
    EXPECT_EQ(fields["X-Long"], long_value);
    EXPECT_EQ(parser.get().target(), "/a");
    EXPECT_EQ(std::distance(fields.begin(), fields.end()), 52);
  }
}

}  // namespace
}  // namespace turnpike::proxy
