/* Shared by the core's C files: integer types, the row table layout (mirrored in src/wasm.ts) and
   the module's one memory allocator. */
#ifndef DICOM_CORE_H
#define DICOM_CORE_H

typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long long u64;
typedef long long i64;

#define EXPORT(name) __attribute__((export_name(name)))

/* ---- row table layout (shared with src/wasm.ts) ---- */
#define ROW_WORDS 8
enum { R_TAG, R_VRF, R_HDR, R_VAL, R_LEN, R_END, R_PARENT, R_NEXT };
/* R_VRF = vr byte0 | vr byte1 << 8 | flags << 16 (vr 0 = implicit, not in the stream) */
#define F_UNDEF 0x1     /* undefined length */
#define F_ITEM 0x2      /* sequence item (FFFE,E000) */
#define F_FRAGMENT 0x4  /* encapsulated pixel data item */
#define F_ENCAPS 0x8    /* element holds fragments */
#define F_SEQ 0x10      /* element holds items */
#define F_META 0x20     /* file meta information (group 0002) */
#define F_BE 0x40       /* value is big endian */
#define F_IMPLICIT 0x80 /* contents (items) of this element are implicit VR LE (UN sequence) */
#define UNDEF 0xFFFFFFFFu

/* A growable block of module memory. Blocks are carved from the top of the heap and never freed:
   a block that must grow moves to a new place (twice the size), so the waste is bounded by the
   largest size each block ever had. Growing the memory detaches the caller's views of it. */
typedef struct {
  u8 *p;
  u32 cap;
} Block;

/* Makes `b` hold at least `need` bytes; keeps the first `keep` bytes when it moves. 0 = no memory. */
int block_reserve(Block *b, u32 need, u32 keep);

/* Is x in the sorted array a[0, n)? */
static inline int sorted_has(const u32 *a, u32 n, u32 x) {
  u32 lo = 0, hi = n;
  while (lo < hi) {
    u32 mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo < n && a[lo] == x;
}

#define VR2(a, b) ((u32)(a) | (u32)(b) << 8)

#endif
