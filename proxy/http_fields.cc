#include "proxy/http_fields.h"

namespace turnpike::proxy::detail {

namespace {

struct FreeBlock {
  FreeBlock* next;
};

struct BlockList {
  FreeBlock* head = nullptr;
  std::size_t count = 0;
  bool alive = true;  // false once the thread's list is gone: blocks go back to the heap

  BlockList() = default;
  BlockList(const BlockList&) = delete;
  BlockList& operator=(const BlockList&) = delete;
  ~BlockList() {
    alive = false;
    while (head != nullptr) {
      FreeBlock* block = head;
      head = block->next;
      ::operator delete(block);
    }
    count = 0;
  }
};

thread_local BlockList free_blocks;

}  // namespace

void* takeFieldBlock() {
  BlockList& list = free_blocks;
  if (list.head == nullptr) return ::operator new(kFieldBlockSize);
  FreeBlock* block = list.head;
  list.head = block->next;
  --list.count;
  return block;
}

void returnFieldBlock(void* block) noexcept {
  BlockList& list = free_blocks;
  if (!list.alive || list.count >= kMaxPooledBlocks) {
    ::operator delete(block);
    return;
  }
  list.head = new (block) FreeBlock{list.head};
  ++list.count;
}

}  // namespace turnpike::proxy::detail
