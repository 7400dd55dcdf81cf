/*
 * DICOM structural walker: freestanding C compiled to wasm32 by @yowasp/clang.
 *
 * It reads element headers only (tag, VR, length) and writes one row per element, sequence item and
 * encapsulated fragment into a fixed table in its own memory. Values are never touched: the
 * TypeScript wrapper decodes them lazily from the caller's bytes using the offsets in the table.
 *
 * The walker is resumable so the wrapper can feed it windows of the file: it returns NEED_DATA with
 * `pos` at the next byte it needs, and the wrapper copies the next window starting there. A large
 * value (pixel data, a Siemens CSA header) is skipped by arithmetic, so its bytes are never copied.
 * When the input already lives in this module's memory the whole file is one window.
 *
 * Hostile input: every length is checked against the enclosing item/sequence and the file length
 * before use, with 64-bit arithmetic; every loop iteration either advances `pos` by at least 8
 * bytes or closes a context (opened only after advancing), so work is linear in the input; memory
 * use is fixed (table and patch areas are static, the wrapper flushes them when full).
 */

#include "core.h"
#include "sq_tags.h" /* generated: SQ_TAGS[], SQ_TAG_COUNT (sorted), for implicit VR */

#define TABLE_MAX 4096
#define PATCH_MAX 256
static u32 table[TABLE_MAX * ROW_WORDS];
static u32 patches[PATCH_MAX * 3]; /* row, end, next: closes of rows already flushed */
static u32 table_cap = TABLE_MAX;
static u32 row_count; /* rows emitted since dw_begin (absolute row index of the next row) */
static u32 row_base;  /* absolute index of table[0] */
static u32 patch_count;

/* ---- status and errors (shared with src/wasm.ts) ---- */
enum { S_DONE = 0, S_NEED_DATA = 1, S_TABLE_FULL = 2, S_META_END = 3, S_ERROR = 4 };
enum {
  E_NONE,
  E_TRUNC_HEADER,     /* file ends inside an element header */
  E_TRUNC_VALUE,      /* value extends past the end of the file */
  E_BAD_VR,           /* explicit VR bytes are not a VR */
  E_EXCEEDS,          /* value longer than its enclosing item or sequence */
  E_EXPECTED_ITEM,    /* something other than an item inside a sequence */
  E_STRAY_DELIMITER,  /* item/sequence delimiter or item where none can be */
  E_DEPTH,            /* nesting deeper than MAX_DEPTH */
  E_UNDEF_LENGTH,     /* undefined length on a VR that cannot have it */
  E_TRUNC_SEQUENCE,   /* file ends inside an undefined-length sequence, item or pixel data */
  E_FRAGMENT_UNDEF,   /* encapsulated fragment with undefined length */
  E_UNTERMINATED,     /* undefined-length item/sequence runs past its enclosing defined length */
};
static u32 err_code, err_offset;

/* ---- walker state ---- */
#define MAX_DEPTH 64
enum { K_TOP, K_SEQ, K_ITEM, K_ENCAPS };
typedef struct {
  u32 kind;
  u32 row;      /* row index of the SQ / item / pixel data element (absolute) */
  u64 end;      /* defined end offset, or UNDEF64 */
  u64 limit;    /* min(end, enclosing limit): nothing may extend past it */
  u32 explicit_vr, big_endian;
} Ctx;
#define UNDEF64 0xFFFFFFFFFFFFFFFFull
static Ctx stack[MAX_DEPTH + 1];
static int sp;
static u64 pos;
static u32 in_meta;

/* current window: bytes [base, base + win_len) of the file live at win */
static const u8 *win;
static u64 base, win_end, file_len;

#define WINDOW_MAX 65536
static u8 window_buf[WINDOW_MAX];

static Block input_block;

static inline const u8 *at(u64 abs) { return win + (abs - base); }
static inline u32 rd16(const u8 *p, u32 be) { return be ? ((u32)p[0] << 8 | p[1]) : (p[0] | (u32)p[1] << 8); }
static inline u32 rd32(const u8 *p, u32 be) {
  return be ? ((u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3])
            : (p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24);
}

static int is_sq_tag(u32 tag) { return sorted_has(SQ_TAGS, SQ_TAG_COUNT, tag); }

static inline int is_upper(u8 c) { return c >= 'A' && c <= 'Z'; }
static int long_vr(u8 a, u8 b) {
  switch (a << 8 | b) {
  case 'O' << 8 | 'B': case 'O' << 8 | 'D': case 'O' << 8 | 'F': case 'O' << 8 | 'L':
  case 'O' << 8 | 'V': case 'O' << 8 | 'W': case 'S' << 8 | 'Q': case 'S' << 8 | 'V':
  case 'U' << 8 | 'C': case 'U' << 8 | 'N': case 'U' << 8 | 'R': case 'U' << 8 | 'T':
  case 'U' << 8 | 'V':
    return 1;
  }
  return 0;
}

static int fail(u32 code, u64 at_off) {
  err_code = code;
  err_offset = at_off > 0xFFFFFFFFu ? 0xFFFFFFFFu : (u32)at_off;
  return S_ERROR;
}

static u32 *emit(u32 tag, u32 vrf, u64 hdr, u64 val, u32 len) {
  u32 *r = &table[(row_count - row_base) * ROW_WORDS];
  r[R_TAG] = tag; r[R_VRF] = vrf; r[R_HDR] = (u32)hdr; r[R_VAL] = (u32)val; r[R_LEN] = len;
  r[R_END] = (u32)(val + (len == UNDEF ? 0 : len));
  r[R_PARENT] = sp > 0 ? stack[sp].row : UNDEF;
  r[R_NEXT] = row_count + 1;
  row_count++;
  return r;
}

static void close_ctx(void) {
  u32 row = stack[sp].row;
  if (row >= row_base) {
    u32 *r = &table[(row - row_base) * ROW_WORDS];
    r[R_END] = (u32)pos; r[R_NEXT] = row_count;
  } else {
    patches[patch_count * 3] = row; patches[patch_count * 3 + 1] = (u32)pos;
    patches[patch_count * 3 + 2] = row_count; patch_count++;
  }
  sp--;
}

static int push(u32 kind, u32 row, u64 end, u32 explicit_vr, u32 big_endian) {
  if (sp >= MAX_DEPTH) return 0;
  Ctx *parent = &stack[sp];
  Ctx *c = &stack[++sp];
  c->kind = kind; c->row = row; c->end = end;
  c->limit = (end != UNDEF64 && end < parent->limit) ? end : parent->limit;
  c->explicit_vr = explicit_vr; c->big_endian = big_endian;
  return 1;
}

/* Ensure `need` bytes at pos are in the window. 0 = yes; otherwise a status to return. */
static int need(u64 n, u32 trunc_code) {
  if (pos + n > file_len) return fail(trunc_code, pos);
  if (pos < base || pos + n > win_end) return S_NEED_DATA;
  return 0;
}

/* An out-of-range end: the file ending is truncation, anything else is a malformed length. */
static int past_limit(u64 end, const Ctx *c, u64 where) {
  return fail(end > file_len ? E_TRUNC_VALUE : E_EXCEEDS, where);
}

static int walk(void) {
  for (;;) {
    Ctx *c = &stack[sp];
    if (c->end != UNDEF64 && pos == c->end) {
      if (sp == 0) return S_DONE;
      if (row_count - row_base >= table_cap || patch_count >= PATCH_MAX) return S_TABLE_FULL;
      close_ctx();
      continue;
    }
    if (pos >= c->limit) {
      if (sp == 0) return S_DONE; /* unreachable: top end == limit == file_len */
      return fail(c->limit >= file_len ? E_TRUNC_SEQUENCE : E_UNTERMINATED, pos);
    }
    if (in_meta && sp == 0) {
      /* meta ends at the first element outside group 0002 (group length fields lie too often) */
      int s = need(2, E_TRUNC_HEADER);
      if (s) return s;
      if (rd16(at(pos), 0) != 0x0002) return S_META_END;
    }
    int s = need(8, E_TRUNC_HEADER);
    if (s) return s;
    if (row_count - row_base >= table_cap || patch_count >= PATCH_MAX) return S_TABLE_FULL;
    const u8 *p = at(pos);
    u32 be = c->big_endian;
    u32 group = rd16(p, be), elem = rd16(p + 2, be);
    u32 tag = group << 16 | elem;
    u64 hdr = pos;

    if (c->kind == K_SEQ || c->kind == K_ENCAPS) {
      u32 len = rd32(p + 4, be);
      /* a sequence delimiter in the other byte order: writers disagree on whether the delimiter
         of an undefined-length UN in a big-endian file belongs to the (implicit LE) value */
      if (tag == 0xFFFEE0DD || (tag == 0xFEFFDDE0 && c->kind == K_SEQ)) {
        pos += 8;
        /* some writers also terminate defined-length sequences: skip such a delimiter when it
           lies inside the defined length (the length still decides where the sequence ends) */
        if (c->end != UNDEF64) {
          if (pos > c->end) return fail(E_STRAY_DELIMITER, hdr);
          continue;
        }
        close_ctx();
        continue;
      }
      if (tag != 0xFFFEE000) return fail(E_EXPECTED_ITEM, hdr);
      if (c->kind == K_ENCAPS) {
        if (len == UNDEF) return fail(E_FRAGMENT_UNDEF, hdr);
        u64 end = pos + 8 + (u64)len;
        if (end > c->limit) return past_limit(end, c, hdr);
        emit(tag, F_FRAGMENT << 16 | (be ? F_BE << 16 : 0), hdr, pos + 8, len);
        pos = end;
        continue;
      }
      u64 end = len == UNDEF ? UNDEF64 : pos + 8 + (u64)len;
      if (end != UNDEF64 && end > c->limit) return past_limit(end, c, hdr);
      emit(tag, (F_ITEM | (len == UNDEF ? F_UNDEF : 0) | (be ? F_BE : 0)) << 16, hdr, pos + 8, len);
      u32 row = row_count - 1;
      pos += 8;
      if (!push(K_ITEM, row, end, c->explicit_vr, be)) return fail(E_DEPTH, hdr);
      continue;
    }

    /* top level or inside an item: a data element, or the end of an undefined-length item */
    if (group == 0xFFFE) {
      if (tag == 0xFFFEE00D && c->kind == K_ITEM) {
        pos += 8;
        if (c->end != UNDEF64) { /* tolerated inside a defined-length item, as above */
          if (pos > c->end) return fail(E_STRAY_DELIMITER, hdr);
          continue;
        }
        close_ctx();
        continue;
      }
      return fail(E_STRAY_DELIMITER, hdr);
    }
    u32 explicit_vr = in_meta && sp == 0 ? 1 : c->explicit_vr;
    u32 vr0 = 0, vr1 = 0, len, hlen;
    if (explicit_vr) {
      vr0 = p[4]; vr1 = p[5];
      if (!is_upper((u8)vr0) || !is_upper((u8)vr1)) return fail(E_BAD_VR, hdr + 4);
      if (long_vr((u8)vr0, (u8)vr1)) {
        s = need(12, E_TRUNC_HEADER);
        if (s) return s;
        p = at(pos);
        len = rd32(p + 8, be);
        hlen = 12;
      } else {
        len = rd16(p + 6, be);
        hlen = 8;
      }
    } else {
      len = rd32(p + 4, be);
      hlen = 8;
    }
    u64 val = pos + hlen;
    u32 flags = (in_meta && sp == 0 ? F_META : 0) | (be ? F_BE : 0);
    u32 vr = vr0 | vr1 << 8;
    u32 is_sq = explicit_vr ? (vr0 == 'S' && vr1 == 'Q') : is_sq_tag(tag);
    u32 is_un = explicit_vr && vr0 == 'U' && vr1 == 'N';
    u32 is_ob_ow = explicit_vr && vr0 == 'O' && (vr1 == 'B' || vr1 == 'W');

    if (len == UNDEF) {
      u32 kind, cexp = explicit_vr, cbe = be;
      if (tag == 0x7FE00010 || is_ob_ow) {
        kind = K_ENCAPS; flags |= F_ENCAPS;
      } else if (is_sq || !explicit_vr) {
        kind = K_SEQ; flags |= F_SEQ;
      } else if (is_un) {
        /* PS3.5 6.2.2: an undefined-length UN holds a sequence encoded as implicit VR LE */
        kind = K_SEQ; flags |= F_SEQ | F_IMPLICIT; cexp = 0; cbe = 0;
      } else {
        return fail(E_UNDEF_LENGTH, hdr);
      }
      emit(tag, vr | (flags | F_UNDEF) << 16, hdr, val, UNDEF);
      pos = val;
      if (!push(kind, row_count - 1, UNDEF64, cexp, cbe)) return fail(E_DEPTH, hdr);
      continue;
    }
    u64 end = val + (u64)len;
    if (end > c->limit) return past_limit(end, c, hdr);
    if (is_un && len >= 8 && is_sq_tag(tag)) {
      /* a standard sequence stored as UN of defined length: implicit VR LE items inside, when the
         value starts with an item tag; otherwise it stays opaque bytes */
      s = need(hlen + 4, E_TRUNC_VALUE);
      if (s) return s;
      p = at(pos);
      if (rd32(p + hlen, 0) == 0xE000FFFEu) {
        emit(tag, vr | (flags | F_SEQ | F_IMPLICIT) << 16, hdr, val, len);
        pos = val;
        if (!push(K_SEQ, row_count - 1, end, 0, 0)) return fail(E_DEPTH, hdr);
        continue;
      }
    }
    if (is_sq) {
      emit(tag, vr | (flags | F_SEQ) << 16, hdr, val, len);
      pos = val;
      if (!push(K_SEQ, row_count - 1, end, explicit_vr, be)) return fail(E_DEPTH, hdr);
      continue;
    }
    emit(tag, vr | flags << 16, hdr, val, len);
    pos = end;
  }
}

/* ---- exports ---- */

/* mode bit 0: start in the file meta group (explicit VR LE); bit 1: explicit VR; bit 2: big endian */
EXPORT("dw_begin") void dw_begin(u32 start, u32 mode) {
  sp = 0;
  stack[0].kind = K_TOP; stack[0].row = UNDEF;
  stack[0].explicit_vr = (mode >> 1) & 1; stack[0].big_endian = (mode >> 2) & 1;
  in_meta = mode & 1;
  pos = start;
  row_count = row_base = patch_count = 0;
  err_code = err_offset = 0;
}

/* after S_META_END: the transfer syntax of the data set */
EXPORT("dw_set_syntax") void dw_set_syntax(u32 explicit_vr, u32 big_endian) {
  in_meta = 0;
  stack[0].explicit_vr = explicit_vr; stack[0].big_endian = big_endian;
}

/* Walk with bytes [b, b + len) of a file of file_length bytes at address ptr. */
EXPORT("dw_walk") u32 dw_walk(const u8 *ptr, u32 b, u32 len, u32 file_length) {
  win = ptr; base = b; win_end = (u64)b + len; file_len = file_length;
  stack[0].end = stack[0].limit = file_len;
  /* inner contexts inherited the top limit: a changed file length (inflated data set) only
     happens at meta end, when no context is open */
  return (u32)walk();
}

EXPORT("dw_pos") u32 dw_pos(void) { return (u32)pos; }
EXPORT("dw_depth") u32 dw_depth(void) { return (u32)sp; }
EXPORT("dw_err_code") u32 dw_err_code(void) { return err_code; }
EXPORT("dw_err_offset") u32 dw_err_offset(void) { return err_offset; }
EXPORT("dw_table_ptr") u32 *dw_table_ptr(void) { return table; }
EXPORT("dw_rows") u32 dw_rows(void) { return row_count - row_base; }
EXPORT("dw_row_base") u32 dw_row_base(void) { return row_base; }
EXPORT("dw_patch_ptr") u32 *dw_patch_ptr(void) { return patches; }
EXPORT("dw_patch_count") u32 dw_patch_count(void) { return patch_count; }
/* after S_TABLE_FULL, once the wrapper has copied rows and applied patches */
EXPORT("dw_table_reset") void dw_table_reset(void) { row_base = row_count; patch_count = 0; }
/* tests shrink the table to exercise flushing */
EXPORT("dw_set_table_cap") void dw_set_table_cap(u32 n) { table_cap = n < 4 ? 4 : n > TABLE_MAX ? TABLE_MAX : n; }
EXPORT("dw_window_ptr") u8 *dw_window_ptr(void) { return window_buf; }
EXPORT("dw_window_cap") u32 dw_window_cap(void) { return WINDOW_MAX; }

/* A region of `len` bytes for callers that read files straight into module memory. Grows (moves)
   when needed, which detaches earlier views. Returns 0 when memory cannot grow. */
EXPORT("dw_input") u8 *dw_input(u32 len) {
  if (!block_reserve(&input_block, len ? len : 1, 0)) return 0;
  return input_block.p;
}
