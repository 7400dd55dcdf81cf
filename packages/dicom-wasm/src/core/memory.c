/* The module's allocator: bump allocation of Blocks from __heap_base (see core.h). */
#include "core.h"

extern u8 __heap_base;
static u32 heap_top;

int block_reserve(Block *b, u32 need, u32 keep) {
  if (need <= b->cap) return 1;
  if (!heap_top) heap_top = ((u32)&__heap_base + 15) & ~15u;
  u64 cap = (u64)b->cap * 2;
  if (cap < need) cap = need;
  if (cap < 4096) cap = 4096;
  cap = (cap + 15) & ~15ull;
  u64 end = (u64)heap_top + cap;
  if (end > 0xFFFF0000ull) return 0;
  u64 have = (u64)__builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    u64 pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, (unsigned long)pages) == (unsigned long)-1) return 0;
  }
  u8 *p = (u8 *)heap_top;
  if (keep && b->p) __builtin_memcpy(p, b->p, keep > b->cap ? b->cap : keep);
  b->p = p;
  b->cap = (u32)cap;
  heap_top = (u32)end;
  return 1;
}
