/*
 * The anonymization rewrite, one pass over the walk's row table (src/anonymize/ drives it; the
 * profile arrives compiled by src/anonymize/compile.ts as a blob, see `an_profile_load`).
 *
 * For every element of the data set and of every item, at every nesting level, the pass decides
 * the profile's action (K Z X U D S C, private creators and the safe-private list, the caller's
 * keep list, added elements) and writes the output as a list of pieces: ranges of the input, which
 * the caller copies straight from its own buffer (the pixel data never enters this module), and
 * bytes made here (headers, replaced values, the filtered CSA header). Defined lengths of the
 * sequences and items that hold a change are recomputed; undefined-length ones keep their
 * delimiters. UIDs are replaced here (SHA-256 of the map's secret and the UID, as uid-map.ts),
 * with a per-map cache of replaced elements; dates are shifted here (Modified Dates).
 *
 * The values the pass reads (creators, UIDs, dates, the CSA image header) are copied in by the
 * caller before the pass: `an_plan` lists the ranges holding every value up to SMALL_VALUE bytes
 * and every private element a 'C' rule may filter. A value outside them (a huge UID or date) makes
 * the pass ask for the whole input (A_NEED_ALL). A CSA header in the old (non-SV10) format is
 * handed to the TypeScript filter (A_NEED_CSA): rare, and one implementation of that format.
 *
 * Hostile input: rows come from the walker (lengths checked against the file); every value read
 * is bounded by its row's length; work is linear in rows + value bytes (UID and date values are
 * scanned a constant number of times); memory grows with the output only.
 */
#include "core.h"
#include "sha256.h"
#include <wasm_simd128.h>
#include "ui_tags.h" /* generated: UI_TAGS[], UI_TAG_COUNT (sorted), VR of implicit-VR UIDs */

/* ---- statuses and errors (shared with src/anonymize/core.ts) ---- */
enum { A_OK = 0, A_NEED_ALL = 1, A_NEED_CSA = 2, A_ERROR = 3 };
/* errors (an_arg() after A_ERROR), distinct from the statuses: helpers return either */
enum { AE_NOMEM = 16, AE_UID_TOO_LONG, AE_VALUE_TOO_LONG, AE_PROFILE, AE_DEPTH };
static u32 status_arg;

#define SMALL_VALUE 4096
#define MERGE_GAP 1024

/* ---- the profile (blob written by compile.ts; offsets are from the blob start) ---- */
typedef struct { u32 tag, action, vr, value_off, value_len; } Rule;            /* sorted by tag */
typedef struct { u32 mask, value, action, vr, value_off, value_len; } Masked;
typedef struct { u32 group, element, action, creator_off, creator_len; } Safe;
typedef struct { u32 off, len; } Str;
typedef struct { u32 tag; Str enc[4]; } Add;                                 /* sorted by tag */
static Block profile_block;
static const u8 *pb;
static u32 p_flags, n_rules, n_masked, n_keep, n_safe, n_csa, n_add;
static const Rule *p_rules;
static int build_rule_table(void);
static u32 csa_first[256];
static const Masked *p_masked;
static const u32 *p_keep;
static const Safe *p_safe;
static const Str *p_csa;
static const Add *p_add;
#define PF_REPLACE_OTHER_UIDS 1
#define PF_REMOVE_PRIVATE 2

EXPORT("an_profile_buf") u8 *an_profile_buf(u32 len) {
  if (!block_reserve(&profile_block, len, 0)) return 0;
  return profile_block.p;
}

EXPORT("an_profile_load") u32 an_profile_load(u32 len) {
  const u32 *w = (const u32 *)profile_block.p;
  if (len < 64 || w[0] != 0x414e4f31u /* 'ANO1' */) return 0;
  pb = profile_block.p;
  p_flags = w[1];
  n_rules = w[2]; p_rules = (const Rule *)(pb + w[3]);
  n_masked = w[4]; p_masked = (const Masked *)(pb + w[5]);
  n_keep = w[6]; p_keep = (const u32 *)(pb + w[7]);
  n_safe = w[8]; p_safe = (const Safe *)(pb + w[9]);
  n_csa = w[10]; p_csa = (const Str *)(pb + w[11]);
  n_add = w[12]; p_add = (const Add *)(pb + w[13]);
  /* CSA names kept, by first byte: a bit per name (the first 32; the rest are compared one by one) */
  __builtin_memset(csa_first, 0, sizeof csa_first);
  for (u32 k = 0; k < n_csa && k < 32; k++) if (p_csa[k].len) csa_first[pb[p_csa[k].off]] |= 1u << k;
  return build_rule_table();
}

/* rules by tag in an open-addressing table (rule index + 1; 0 = empty), looked up per element */
static Block rule_slots_block;
static u32 rule_shift, rule_mask;

static inline u32 rule_hash(u32 tag) { return (tag * 0x9e3779b1u) >> rule_shift; }

static int build_rule_table(void) {
  u32 bits = 4;
  while ((1u << bits) < n_rules * 4) bits++;
  rule_shift = 32 - bits;
  rule_mask = (1u << bits) - 1;
  if (!block_reserve(&rule_slots_block, (1u << bits) * 4, 0)) return 0;
  u32 *slots = (u32 *)rule_slots_block.p;
  __builtin_memset(slots, 0, (1u << bits) * 4);
  for (u32 i = 0; i < n_rules; i++) {
    u32 h = rule_hash(p_rules[i].tag);
    while (slots[h]) h = (h + 1) & rule_mask;
    slots[h] = i + 1;
  }
  return 1;
}

static const Rule *find_rule(u32 tag) {
  const u32 *slots = (const u32 *)rule_slots_block.p;
  for (u32 h = rule_hash(tag);; h = (h + 1) & rule_mask) {
    u32 s = slots[h];
    if (!s) return 0;
    if (p_rules[s - 1].tag == tag) return &p_rules[s - 1];
  }
}

static const Masked *find_masked(u32 tag) {
  u32 hi = tag >> 24;
  if (hi != 0x50 && hi != 0x60) return 0;
  for (u32 i = 0; i < n_masked; i++) if ((tag & p_masked[i].mask) == p_masked[i].value) return &p_masked[i];
  return 0;
}

static int kept(u32 tag) { return sorted_has(p_keep, n_keep, tag); }

static int is_ui_tag(u32 tag) { return sorted_has(UI_TAGS, UI_TAG_COUNT, tag); }

/* ---- VRs ---- */
static int long_vr(u32 vr) {
  switch (vr) {
  case VR2('O', 'B'): case VR2('O', 'D'): case VR2('O', 'F'): case VR2('O', 'L'): case VR2('O', 'V'):
  case VR2('O', 'W'): case VR2('S', 'Q'): case VR2('S', 'V'): case VR2('U', 'C'): case VR2('U', 'N'):
  case VR2('U', 'R'): case VR2('U', 'T'): case VR2('U', 'V'):
    return 1;
  }
  return 0;
}

static int standard_vr(u32 vr) {
  switch (vr) {
  case VR2('A', 'E'): case VR2('A', 'S'): case VR2('A', 'T'): case VR2('C', 'S'): case VR2('D', 'A'):
  case VR2('D', 'S'): case VR2('D', 'T'): case VR2('F', 'L'): case VR2('F', 'D'): case VR2('I', 'S'):
  case VR2('L', 'O'): case VR2('L', 'T'): case VR2('O', 'B'): case VR2('O', 'D'): case VR2('O', 'F'):
  case VR2('O', 'L'): case VR2('O', 'V'): case VR2('O', 'W'): case VR2('P', 'N'): case VR2('S', 'H'):
  case VR2('S', 'L'): case VR2('S', 'Q'): case VR2('S', 'S'): case VR2('S', 'T'): case VR2('S', 'V'):
  case VR2('T', 'M'): case VR2('U', 'C'): case VR2('U', 'I'): case VR2('U', 'L'): case VR2('U', 'N'):
  case VR2('U', 'R'): case VR2('U', 'S'): case VR2('U', 'T'): case VR2('U', 'V'):
    return 1;
  }
  return 0;
}

static int text_vr(u32 vr) {
  switch (vr) {
  case VR2('A', 'E'): case VR2('A', 'S'): case VR2('C', 'S'): case VR2('D', 'A'): case VR2('D', 'S'):
  case VR2('D', 'T'): case VR2('I', 'S'): case VR2('L', 'O'): case VR2('L', 'T'): case VR2('P', 'N'):
  case VR2('S', 'H'): case VR2('S', 'T'): case VR2('T', 'M'): case VR2('U', 'C'): case VR2('U', 'I'):
  case VR2('U', 'R'): case VR2('U', 'T'):
    return 1;
  }
  return 0;
}

/* ---- per-call input: rows, where their values are ---- */
static Block rows_block, vptr_block, ranges_block, values_block;
static u32 *rows, *vptr, n_rows, n_ranges, file_len;
static int whole_input; /* after an_plan_all: the whole input is in values_block */
static Block csa_block; /* old-format CSA results handed in by the caller: row, length, bytes */
static u32 csa_used;

typedef struct { u32 explicit_vr, le; } Enc;

/* ---- output: pieces and the bytes made here ---- */
enum { P_INPUT = 0, P_SCRATCH = 1, P_MEMORY = 2 };
static Block ops_block, scratch_block;
static u32 n_ops, scratch_len;
static u64 out_total;
static int failed; /* an error status to return, set where a helper cannot return one */

static u32 *op_at(u32 i) { return (u32 *)ops_block.p + i * 3; }

static int op_push(u32 kind, u32 a, u32 len) {
  if (len == 0) return 1;
  if (kind != P_MEMORY && n_ops > 0) {
    /* adjacent ranges of the input, or of the scratch, are one piece */
    u32 *l = op_at(n_ops - 1);
    if (l[0] == kind && l[1] + l[2] == a) {
      l[2] += len;
      out_total += len;
      return 1;
    }
  }
  if (!block_reserve(&ops_block, (n_ops + 1) * 12, n_ops * 12)) return 0;
  u32 *o = op_at(n_ops++);
  o[0] = kind; o[1] = a; o[2] = len;
  out_total += len;
  return 1;
}

/* `len` bytes in the scratch, not initialised; the pointer is valid until the next allocation. */
static u8 *scratch_take(u32 len, u32 *off) {
  if (!block_reserve(&scratch_block, scratch_len + len, scratch_len)) return 0;
  *off = scratch_len;
  u8 *p = scratch_block.p + scratch_len;
  scratch_len += len;
  return p;
}

/* `len` bytes in the scratch, zeroed. */
static u8 *scratch_alloc(u32 len, u32 *off) {
  u8 *p = scratch_take(len, off);
  if (p) __builtin_memset(p, 0, len);
  return p;
}

/* Where input bytes [a, b) are in this module's memory, or 0 (see an_plan). */
static const u8 *in_memory(u32 a, u32 b);

/* Input bytes [a, b) as a piece. A short range the module holds already (the headers between
   changed elements) is copied into the scratch here, so the caller copies one contiguous piece
   instead of dozens of small ones (each a typed-array view and a set() in JavaScript). */
#define COPY_IN_MAX 4096
static int op_range(u32 a, u32 b) {
  if (b <= a) return 1;
  const u8 *m = b - a <= COPY_IN_MAX ? in_memory(a, b) : 0;
  if (!m) return op_push(P_INPUT, a, b - a);
  u32 off;
  u8 *o = scratch_take(b - a, &off);
  if (!o) return 0;
  __builtin_memcpy(o, m, b - a);
  return op_push(P_SCRATCH, off, b - a);
}

typedef struct { u32 n_ops, last_len, scratch_len; u64 out_total; } Mark;
static Mark mark(void) {
  Mark m = { n_ops, n_ops ? op_at(n_ops - 1)[2] : 0, scratch_len, out_total };
  return m;
}
static void reset(Mark m) {
  n_ops = m.n_ops;
  if (n_ops) op_at(n_ops - 1)[2] = m.last_len;
  scratch_len = m.scratch_len;
  out_total = m.out_total;
}

static void put16(u8 *o, u32 v, u32 le) { if (le) { o[0] = v; o[1] = v >> 8; } else { o[0] = v >> 8; o[1] = v; } }
static void put32(u8 *o, u32 v, u32 le) {
  if (le) { o[0] = v; o[1] = v >> 8; o[2] = v >> 16; o[3] = v >> 24; }
  else { o[0] = v >> 24; o[1] = v >> 16; o[2] = v >> 8; o[3] = v; }
}

static u32 header_size(u32 vr, Enc e) { return e.explicit_vr && long_vr(vr) ? 12 : 8; }

/* An element header (writer.ts's writeHeader). 0 when the length does not fit a short VR. */
static int put_header(u8 *o, u32 tag, u32 vr, u32 len, Enc e) {
  put16(o, tag >> 16, e.le);
  put16(o + 2, tag & 0xffff, e.le);
  if (!e.explicit_vr) { put32(o + 4, len, e.le); return 1; }
  o[4] = vr & 0xff; o[5] = vr >> 8;
  if (long_vr(vr)) { o[6] = o[7] = 0; put32(o + 8, len, e.le); return 1; }
  if (len > 0xffff) return 0;
  put16(o + 6, len, e.le);
  return 1;
}

/* A whole element (header + value padded to even with `pad`) in the scratch; returns its offset
   through `off` and its size, or 0 with `failed` set. */
static u32 element(u32 tag, u32 vr, const u8 *value, u32 n, u8 pad, Enc e, u32 *off) {
  u32 vlen = n + (n & 1);
  if (e.explicit_vr && !long_vr(vr) && vlen > 0xffff) { failed = AE_VALUE_TOO_LONG; return 0; }
  u32 h = header_size(vr, e);
  u8 *o = scratch_take(h + vlen, off);
  if (!o) { failed = AE_NOMEM; return 0; }
  put_header(o, tag, vr, vlen, e);
  if (n) __builtin_memcpy(o + h, value, n);
  if (n & 1) o[h + n] = pad;
  return h + vlen;
}

/* ---- values ---- */
static const u8 *value_of(u32 r) { return vptr[r] ? (const u8 *)vptr[r] : 0; }

static int js_space(u8 c) { return c == 0x20 || (c >= 0x09 && c <= 0x0d) || c == 0xa0; }

/* [a, b) trimmed as JS's String.prototype.trim does for Latin-1 text */
static void trim(const u8 *v, u32 *a, u32 *b) {
  while (*a < *b && js_space(v[*a])) (*a)++;
  while (*b > *a && js_space(v[*b - 1])) (*b)--;
}

/* trailing NULs and spaces off (context.ts's asciiValue) */
static u32 strip_end(const u8 *v, u32 n) {
  while (n > 0 && (v[n - 1] == 0 || v[n - 1] == 0x20)) n--;
  return n;
}

/* ---- UIDs (uid-map.ts's algorithm, byte for byte) ---- */
static Block uidmap_block; /* secret + NUL, then the root */
static u32 map_id, prefix_len, root_len; /* root_len UNDEF: 2.25 */

EXPORT("an_uidmap_buf") u8 *an_uidmap_buf(u32 len) {
  if (!block_reserve(&uidmap_block, len ? len : 1, 0)) return 0;
  return uidmap_block.p;
}
EXPORT("an_uidmap_set") void an_uidmap_set(u32 id, u32 prefix, u32 root) { map_id = id; prefix_len = prefix; root_len = root; }

/* The replacement of one UID, written at `o` (room for 64 bytes + 5); returns its length. */
static u32 map_uid(const u8 *uid, u32 n, u8 *o) {
  Sha256 s;
  sha256_init(&s);
  sha256_update(&s, uidmap_block.p, prefix_len);
  sha256_update(&s, uid, n);
  u32 h[8];
  sha256_final_words(&s, h);
  /* a version-8 (custom) UUID from the first 128 bits */
  u32 w[4] = { h[0], (h[1] & 0xffff0fffu) | 0x00008000u, (h[2] & 0x3fffffffu) | 0x80000000u, h[3] };
  u8 digits[48];
  u32 nd = 0;
  for (;;) { /* decimal, least significant first */
    u64 rem = 0;
    int nonzero = 0;
    for (int i = 0; i < 4; i++) {
      u64 cur = rem << 32 | w[i];
      w[i] = (u32)(cur / 1000000000u);
      rem = cur % 1000000000u;
      if (w[i]) nonzero = 1;
    }
    for (int k = 0; k < 9; k++) {
      digits[nd++] = '0' + (u8)(rem % 10);
      rem /= 10;
      if (!nonzero && rem == 0) break;
    }
    if (!nonzero) break;
  }
  u32 len = 0;
  u32 max_digits = nd;
  if (root_len == UNDEF) {
    o[0] = '2'; o[1] = '.'; o[2] = '2'; o[3] = '5'; o[4] = '.';
    len = 5;
  } else {
    const u8 *root = uidmap_block.p + prefix_len;
    for (u32 i = 0; i < root_len; i++) o[len++] = root[i];
    o[len++] = '.';
    u32 room = 64 - root_len - 1;
    if (max_digits > room) max_digits = room;
  }
  for (u32 i = 0; i < max_digits; i++) o[len++] = digits[nd - 1 - i];
  return len;
}

/* Cache of replaced UID elements per map: most UIDs recur in every volume of a run. */
typedef struct { u32 hash, map, tag, kind, old_off, old_len, el_off, el_len; } UidEntry;
#define UID_SLOTS 65536
#define UID_MAX_ENTRIES 40000
#define UID_MAX_BYTES (8u << 20)
#define UID_PROBES 64
static Block uid_slots_block, uid_entries_block, uid_bytes_block;
static u32 hash_seed; /* random per instance (an_seed): slots cannot be predicted offline */
EXPORT("an_seed") void an_seed(u32 seed) { hash_seed = seed; }
static u32 uid_entries, uid_bytes;

static void uid_cache_clear(void) {
  if (uid_slots_block.p) __builtin_memset(uid_slots_block.p, 0, UID_SLOTS * 4);
  uid_entries = 0;
  uid_bytes = 0;
}

static inline u32 load32(const u8 *p) { u32 v; __builtin_memcpy(&v, p, 4); return v; }

static u32 hash_bytes(u32 h, const u8 *p, u32 n) {
  u32 i = 0;
  for (; i + 4 <= n; i += 4) h = ((h ^ load32(p + i)) * 0x01000193u) ^ (h >> 15);
  for (; i < n; i++) h = (h ^ p[i]) * 0x01000193u;
  return h;
}

static int bytes_equal(const u8 *a, const u8 *b, u32 n) {
  u32 i = 0;
  for (; i + 4 <= n; i += 4) if (load32(a + i) != load32(b + i)) return 0;
  for (; i < n; i++) if (a[i] != b[i]) return 0;
  return 1;
}

static const u8 DICOM_ROOT[14] = { '1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.' };

/* The UI element `tag` with value v[0, n) with its UIDs replaced, appended as a piece; `*changed`
   0 when every UID stays (empty values; under the implicit rule, DICOM-defined ones). */
static int uid_element(u32 tag, Enc e, const u8 *v, u32 n, int implicit_rule, int *changed) {
  n = strip_end(v, n);
  u32 kind = (e.explicit_vr ? 1 : 0) | (e.le ? 2 : 0) | (implicit_rule ? 4 : 0);
  u32 h = hash_bytes((tag ^ kind << 29 ^ hash_seed) * 0x01000193u ^ map_id, v, n);
  if (!uid_slots_block.p) {
    if (!block_reserve(&uid_slots_block, UID_SLOTS * 4, 0)) return AE_NOMEM;
    uid_cache_clear();
  }
  u32 *slots = (u32 *)uid_slots_block.p;
  u32 s = h & (UID_SLOTS - 1);
  /* a bounded probe: values crafted to collide (the hash is not keyed) cost at most UID_PROBES
     compares each, then are mapped without the cache */
  int cacheable = 1;
  for (u32 probes = 0;; probes++) {
    if (probes == UID_PROBES) { cacheable = 0; break; }
    u32 idx = slots[s];
    if (!idx) break;
    UidEntry *x = (UidEntry *)uid_entries_block.p + (idx - 1);
    if (x->hash == h && x->map == map_id && x->tag == tag && x->kind == kind && x->old_len == n &&
        bytes_equal(uid_bytes_block.p + x->old_off, v, n)) {
      if (x->el_len == 0) { *changed = 0; return 0; }
      u32 off;
      u8 *o = scratch_take(x->el_len, &off);
      if (!o) return AE_NOMEM;
      __builtin_memcpy(o, uid_bytes_block.p + x->el_off, x->el_len);
      *changed = 1;
      return op_push(P_SCRATCH, off, x->el_len) ? 0 : AE_NOMEM;
    }
    s = (s + 1) & (UID_SLOTS - 1);
  }
  /* a miss: map each UID of the value. The new value: at most 69 bytes per UID + separators. */
  u32 parts = 1;
  for (u32 i = 0; i < n; i++) if (v[i] == '\\') parts++;
  u64 room = (u64)parts * 70 + n;
  if (room > 0x10000 + 70) room = 0x10000 + 70; /* longer values cannot be written (checked below) */
  /* the element where the scratch ends now (so it continues the piece before it), its header in front */
  u32 hs = header_size(VR2('U', 'I'), e), el_off;
  u8 *buf = scratch_take((u32)room + hs, &el_off);
  if (!buf) return AE_NOMEM;
  u8 *val = buf + hs;
  u32 len = 0;
  int any = 0;
  u32 a = 0;
  for (u32 i = 0; i <= n; i++) {
    if (i < n && v[i] != '\\') continue;
    u32 pa = a, pe = i;
    trim(v, &pa, &pe);
    if (a > 0) {
      if (len >= room) return AE_UID_TOO_LONG;
      val[len++] = '\\';
    }
    u32 pn = pe - pa;
    int keep_part = pn == 0 || (implicit_rule && pn >= 14 && bytes_equal(v + pa, DICOM_ROOT, 14));
    if (keep_part) {
      if (len + pn > room) return AE_UID_TOO_LONG;
      __builtin_memcpy(val + len, v + pa, pn);
      len += pn;
    } else {
      if (len + 70 > room) return AE_UID_TOO_LONG;
      u32 m = map_uid(v + pa, pn, val + len);
      if (m != pn || !bytes_equal(val + len, v + pa, pn)) any = 1;
      len += m;
    }
    a = i + 1;
  }
  u32 vlen = len + (len & 1);
  if (vlen > 0xffff) return AE_UID_TOO_LONG;
  if (len & 1) val[len] = 0;
  u32 el_len = 0;
  if (any) {
    put_header(scratch_block.p + el_off, tag, VR2('U', 'I'), vlen, e);
    el_len = hs + vlen;
    /* the unused tail of the reservation goes back */
    scratch_len = el_off + el_len;
  } else {
    scratch_len = el_off;
    el_off = 0;
  }
  /* remember it */
  if (cacheable && (uid_entries >= UID_MAX_ENTRIES || uid_bytes + n + el_len > UID_MAX_BYTES)) uid_cache_clear();
  if (cacheable && block_reserve(&uid_entries_block, (uid_entries + 1) * sizeof(UidEntry), uid_entries * sizeof(UidEntry)) &&
      block_reserve(&uid_bytes_block, uid_bytes + n + el_len, uid_bytes)) {
    UidEntry *x = (UidEntry *)uid_entries_block.p + uid_entries;
    x->hash = h; x->map = map_id; x->tag = tag; x->kind = kind;
    x->old_off = uid_bytes; x->old_len = n;
    __builtin_memcpy(uid_bytes_block.p + uid_bytes, v, n);
    x->el_off = uid_bytes + n; x->el_len = el_len;
    if (el_len) __builtin_memcpy(uid_bytes_block.p + uid_bytes + n, scratch_block.p + el_off, el_len);
    uid_bytes += n + el_len;
    uid_entries++;
    u32 t = h & (UID_SLOTS - 1);
    while (slots[t]) t = (t + 1) & (UID_SLOTS - 1);
    slots[t] = uid_entries;
  }
  *changed = any;
  if (!any) return 0;
  return op_push(P_SCRATCH, el_off, el_len) ? 0 : AE_NOMEM;
}

/* ---- dates (Modified Dates; test/reference/dates.ts's shiftedDates is the specification) ---- */
static i64 days_from_civil(i64 y, u32 m, u32 d) {
  y -= m <= 2;
  i64 era = (y >= 0 ? y : y - 399) / 400;
  u32 yoe = (u32)(y - era * 400);
  u32 doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  u32 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (i64)doe - 719468;
}

static void civil_from_days(i64 z, i64 *y, u32 *m, u32 *d) {
  z += 719468;
  i64 era = (z >= 0 ? z : z - 146096) / 146097;
  u32 doe = (u32)(z - era * 146097);
  u32 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  i64 yy = (i64)yoe + era * 400;
  u32 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  u32 mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

static int digit(u8 c) { return c >= '0' && c <= '9'; }
static u32 num(const u8 *p, u32 n) { u32 v = 0; for (u32 i = 0; i < n; i++) v = v * 10 + (p[i] - '0'); return v; }

static u32 days_in_month(u32 y, u32 m) {
  static const u8 dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

/* 'YYYYMMDD' or 'YYYY.MM.DD' (dots optional each) shifted back: 8 bytes at o, or 0 when not a date */
static u32 shift_date(const u8 *v, u32 n, i32 days, u8 *o) {
  u32 i = 0;
  u8 ds[8];
  for (u32 k = 0; k < 4; k++) { if (i >= n || !digit(v[i])) return 0; ds[k] = v[i++]; }
  if (i < n && v[i] == '.') i++;
  for (u32 k = 4; k < 6; k++) { if (i >= n || !digit(v[i])) return 0; ds[k] = v[i++]; }
  if (i < n && v[i] == '.') i++;
  for (u32 k = 6; k < 8; k++) { if (i >= n || !digit(v[i])) return 0; ds[k] = v[i++]; }
  if (i != n) return 0;
  u32 y = num(ds, 4), m = num(ds + 4, 2), d = num(ds + 6, 2);
  /* JS's Date.UTC reads years 0-99 as 1900-1999: such "dates" never round-trip */
  if (y < 100 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return 0;
  i64 sy;
  u32 sm, sd;
  civil_from_days(days_from_civil(y, m, d) - days, &sy, &sm, &sd);
  if (sy < 1) return 0;
  u32 yy = (u32)sy;
  o[0] = '0' + yy / 1000 % 10; o[1] = '0' + yy / 100 % 10; o[2] = '0' + yy / 10 % 10; o[3] = '0' + yy % 10;
  o[4] = '0' + sm / 10; o[5] = '0' + sm % 10; o[6] = '0' + sd / 10; o[7] = '0' + sd % 10;
  return 8;
}

/* One DA or DT value v[a, b) (trimmed here) shifted: written at o, returns its length (0: empty). */
static u32 shift_value(const u8 *v, u32 a, u32 b, int is_da, i32 days, u8 *o) {
  trim(v, &a, &b);
  if (a == b) return 0;
  if (is_da) {
    u32 dash = UNDEF, dash2 = UNDEF;
    for (u32 i = a; i < b; i++) {
      if (v[i] != '-') continue;
      if (dash == UNDEF) dash = i;
      else { dash2 = i; break; }
    }
    if (dash == UNDEF) return shift_date(v + a, b - a, days, o);
    /* 'A-B' (a further '-' ends B, as JS's split-and-destructure does) */
    u32 bend = dash2 == UNDEF ? b : dash2;
    u32 la = dash - a, lb = bend - (dash + 1);
    u32 sa = la ? shift_date(v + a, la, days, o) : 0;
    if (la && !sa) return 0;
    o[sa] = '-';
    u32 sb = lb ? shift_date(v + dash + 1, lb, days, o + sa + 1) : 0;
    if (lb && !sb) return 0;
    return sa + 1 + sb;
  }
  /* DT: YYYYMMDD, then up to 6 digits, an optional .fraction (1-6 digits), an optional +/-hhmm */
  u32 i = a;
  for (u32 k = 0; k < 8; k++, i++) if (i >= b || !digit(v[i])) return 0;
  u32 time_start = i;
  while (i < b && i - time_start < 6 && digit(v[i])) i++;
  if (i < b && v[i] == '.') {
    u32 f = ++i;
    while (i < b && i - f < 6 && digit(v[i])) i++;
    if (i == f) return 0;
  }
  u32 time_end = i;
  if (i < b && (v[i] == '+' || v[i] == '-')) {
    i++;
    for (u32 k = 0; k < 4; k++, i++) if (i >= b || !digit(v[i])) return 0;
  }
  if (i != b) return 0;
  if (!shift_date(v + a, 8, days, o)) return 0;
  __builtin_memcpy(o + 8, v + time_start, time_end - time_start);
  return 8 + time_end - time_start;
}

static int date_element(u32 tag, u32 vr, Enc e, const u8 *v, u32 n, i32 days) {
  n = strip_end(v, n);
  /* every output value is no longer than its input ('-' ranges: 2 x 8 + 1 <= 2 x 10 + 1) */
  u32 hs = header_size(vr, e), el_off;
  u8 *buf = scratch_take(hs + n + 2, &el_off);
  if (!buf) return AE_NOMEM;
  u8 *val = buf + hs;
  u32 len = 0, a = 0;
  for (u32 i = 0; i <= n; i++) {
    if (i < n && v[i] != '\\') continue;
    if (a > 0) val[len++] = '\\';
    len += shift_value(v, a, i, vr == VR2('D', 'A'), days, val + len);
    a = i + 1;
  }
  u32 vlen = len + (len & 1);
  if (len & 1) val[len] = ' ';
  if (e.explicit_vr && vlen > 0xffff) return AE_VALUE_TOO_LONG;
  put_header(scratch_block.p + el_off, tag, vr, vlen, e);
  scratch_len = el_off + hs + vlen;
  return op_push(P_SCRATCH, el_off, hs + vlen) ? 0 : AE_NOMEM;
}

/* ---- the Siemens CSA header filter (csa.ts's filterSv10) ---- */
#define CSA_MAX_TAGS 1000
#define CSA_MAX_ITEMS 1000
static u32 csa_kept[CSA_MAX_TAGS * 2];

static i32 rdi32(const u8 *p) { return (i32)(p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24); }
static void wri32(u8 *p, u32 v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }

/* The index of the first NUL in p[0, n), or n; 16 bytes at a time (SIMD compares). */
static u32 nul_index(const u8 *p, u32 n) {
  u32 k = 0;
  for (; k + 16 <= n; k += 16) {
    u32 m = wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(p + k), wasm_i8x16_splat(0)));
    if (m) return k + __builtin_ctz(m);
  }
  while (k < n && p[k]) k++;
  return k;
}

/* copies [from, from + n) up to and including its first NUL (the rest of `to` stays zero) */
static void csa_text(const u8 *from, u32 n, u8 *to) {
  u32 k = nul_index(from, n);
  __builtin_memcpy(to, from, k < n ? k + 1 : n);
}

/* Filters the SV10 header b[0, len) into the scratch: 1 and the result's offset and length (0: no
   element kept), or 0 when it does not parse. */
static int csa_filter(const u8 *b, u32 len, u32 *off, u32 *out_len) {
  u32 n_tags = (u32)rdi32(b + 8);
  if (n_tags < 1 || n_tags > CSA_MAX_TAGS) return 0;
  u32 nk = 0, size = 16, p = 16;
  for (u32 t = 0; t < n_tags; t++) {
    if ((u64)p + 84 > len) return 0;
    u32 start = p, n = 0;
    n = nul_index(b + p, 64);
    int wanted = 0;
    if (!n) {
      for (u32 k = 0; k < n_csa && !wanted; k++) wanted = p_csa[k].len == 0;
    } else {
      for (u32 bits = csa_first[b[p]]; bits && !wanted; bits &= bits - 1) {
        const Str *k = &p_csa[__builtin_ctz(bits)];
        wanted = k->len == n && bytes_equal(pb + k->off, b + p, n);
      }
    }
    for (u32 k = 32; k < n_csa && !wanted; k++) wanted = p_csa[k].len == n && bytes_equal(pb + p_csa[k].off, b + p, n);
    i32 n_items = rdi32(b + p + 76);
    if (n_items < 0 || n_items > CSA_MAX_ITEMS) return 0;
    p += 84;
    for (i32 i = 0; i < n_items; i++) {
      if ((u64)p + 16 > len) return 0;
      i32 item_len = rdi32(b + p + 4);
      p += 16;
      if (item_len < 0 || (u64)p + (u32)item_len > len) return 0;
      p += ((u32)item_len + 3) & ~3u;
    }
    if (p > len) p = len; /* the last item's padding may be missing */
    if (wanted) {
      csa_kept[nk++] = start;
      csa_kept[nk++] = p;
      size += p - start;
    }
  }
  if (nk == 0) { *out_len = 0; return 1; }
  u8 *o = scratch_alloc(size, off);
  if (!o) { failed = AE_NOMEM; return 0; }
  o[0] = b[0]; o[1] = b[1]; o[2] = b[2]; o[3] = b[3];
  wri32(o + 4, rdi32(b + 4) == 0 ? 0 : 0x01020304u);
  wri32(o + 8, nk / 2);
  wri32(o + 12, 77);
  u32 w = 16;
  for (u32 k = 0; k < nk; k += 2) {
    u32 q = csa_kept[k], end = csa_kept[k + 1];
    csa_text(b + q, 64, o + w);
    wri32(o + w + 64, (u32)rdi32(b + q + 64));
    csa_text(b + q + 68, 4, o + w + 68);
    wri32(o + w + 72, (u32)rdi32(b + q + 72));
    i32 n_items = rdi32(b + q + 76);
    wri32(o + w + 76, (u32)n_items);
    wri32(o + w + 80, n_items > 0 ? 77 : 205);
    q += 84;
    w += 84;
    for (i32 i = 0; i < n_items; i++) {
      u32 item_len = (u32)rdi32(b + q + 4);
      wri32(o + w, item_len);
      wri32(o + w + 4, item_len);
      wri32(o + w + 8, item_len > 0 ? 77 : 205);
      wri32(o + w + 12, item_len);
      q += 16;
      w += 16;
      u32 avail = end - q;
      csa_text(b + q, item_len < avail ? item_len : avail, o + w);
      u32 padded = (item_len + 3) & ~3u;
      if (padded > avail) padded = avail;
      q += padded;
      w += padded;
    }
  }
  *out_len = size;
  return 1;
}

/* ---- the pass ---- */
static i32 date_shift;

/* creators of private blocks, per nesting level: element (0x10-0xff) -> trimmed value */
#define MAX_LEVELS 66
typedef struct { u32 gen, off, len; } Creator;
static Creator creators[MAX_LEVELS][256];
static u32 creator_gen[MAX_LEVELS];

static u32 row_vr(u32 r, u32 dict_vr) {
  u32 *ro = rows + r * ROW_WORDS;
  u32 vr = ro[R_VRF] & 0xffff;
  if (vr) return vr;
  if ((ro[R_VRF] >> 16) & F_SEQ) return VR2('S', 'Q');
  return dict_vr ? dict_vr : VR2('U', 'N');
}

static int creator_is(const Creator *c, u32 gen, const Safe *s) {
  return c->gen == gen && c->len == s->creator_len && bytes_equal((const u8 *)c->off, pb + s->creator_off, c->len);
}

/* Action for a private element, from its block's creator and the safe list (rewrite.ts's privateAction). */
static u32 private_action(u32 tag, u32 level) {
  if (n_keep && kept(tag)) return 'K';
  if (!(p_flags & PF_REMOVE_PRIVATE)) return 'K';
  u32 group = tag >> 16, elem = tag & 0xffff, gen = creator_gen[level];
  int any_safe = 0;
  for (u32 i = 0; i < n_safe; i++) if (p_safe[i].group == group) { any_safe = 1; break; }
  if (elem >= 0x10 && elem <= 0xff) {
    for (u32 i = 0; i < n_keep; i++) {
      u32 k = p_keep[i];
      if (k >> 16 == group && ((k >> 8) & 0xff) == elem && (k & 0xffff) >= 0x1000) return 'K';
    }
    const Creator *c = &creators[level][elem];
    if (any_safe && c->gen == gen)
      for (u32 i = 0; i < n_safe; i++) if (p_safe[i].group == group && creator_is(c, gen, &p_safe[i])) return 'K';
    return 'X';
  }
  if (elem < 0x1000 || !any_safe) return 'X';
  const Creator *c = &creators[level][elem >> 8];
  if (c->gen != gen) return 'X';
  for (u32 i = 0; i < n_safe; i++) {
    const Safe *s = &p_safe[i];
    if (s->group == group && s->element == (elem & 0xff) && creator_is(c, gen, s)) return s->action;
  }
  return 'X';
}

static int rewrite_sequence(u32 r, Enc enc, u32 level, int *changed);

static const Str *add_bytes(const Add *a, Enc e) { return &a->enc[(e.explicit_vr ? 1 : 0) | (e.le ? 2 : 0)]; }

/* the dummy value of a VR for action D (test/reference/dates.ts's dummyValue): text, or `zeros` zero bytes */
#define TEXT(s) (*len = sizeof(s) - 1, s)
static const char *dummy_text(u32 vr, u32 *zeros, u32 *len) {
  *zeros = 0;
  switch (vr) {
  case VR2('D', 'A'): return TEXT("19000101");
  case VR2('T', 'M'): return TEXT("000000");
  case VR2('D', 'T'): return TEXT("19000101000000");
  case VR2('A', 'S'): return TEXT("000D");
  case VR2('D', 'S'): case VR2('I', 'S'): return TEXT("0");
  case VR2('U', 'S'): case VR2('S', 'S'): case VR2('O', 'B'): case VR2('O', 'W'): case VR2('U', 'N'): *zeros = 2; return 0;
  case VR2('U', 'L'): case VR2('S', 'L'): case VR2('F', 'L'): case VR2('A', 'T'): case VR2('O', 'F'): case VR2('O', 'L'): *zeros = 4; return 0;
  case VR2('F', 'D'): case VR2('S', 'V'): case VR2('U', 'V'): case VR2('O', 'D'): case VR2('O', 'V'): *zeros = 8; return 0;
  }
  return TEXT("ANONYMIZED");
}

/* A blanked element (header with length 0) as a piece. */
static int blank(u32 tag, u32 vr, Enc e) {
  u32 off, h = header_size(vr, e);
  u8 *o = scratch_take(h, &off);
  if (!o) return AE_NOMEM;
  put_header(o, tag, vr, 0, e);
  return op_push(P_SCRATCH, off, h) ? 0 : AE_NOMEM;
}

/* The old-format CSA result the caller handed in for row r: 1 and its bytes, or 0 when none. */
static int csa_provided(u32 r, const u8 **bytes, u32 *len) {
  u32 p = 0;
  while (p + 8 <= csa_used) {
    u32 row = *(u32 *)(csa_block.p + p), n = *(u32 *)(csa_block.p + p + 4);
    u32 size = n == UNDEF ? 0 : n;
    if (row == r) { *bytes = csa_block.p + p + 8; *len = n; return 1; }
    p += 8 + ((size + 3) & ~3u);
  }
  return 0;
}

/* Rewrites rows [first, end_row) (one data set or item) whose bytes span [start, end); appends the
   new contents and sets *changed, or appends nothing when nothing changed. Returns a status. */
static int rewrite_rows(u32 first, u32 end_row, u32 start, u32 end, int root, Enc enc, u32 level, int *changed_out) {
  if (level >= MAX_LEVELS) return AE_DEPTH; /* the walker nests at most 64 deep */
  u32 cursor = start;
  int changed = 0;
  u32 n_adds = root ? n_add : 0, add_i = 0;
  u32 creator_group = UNDEF;
  Mark m0 = mark();
  for (u32 r = first; r < end_row; r = rows[r * ROW_WORDS + R_NEXT]) {
    u32 *ro = rows + r * ROW_WORDS;
    u32 flags = ro[R_VRF] >> 16;
    if (flags & F_META) continue;
    u32 tag = ro[R_TAG], hdr = ro[R_HDR], el_end = ro[R_END], len = ro[R_LEN];
    u32 vr16 = ro[R_VRF] & 0xffff;
    while (add_i < n_adds && p_add[add_i].tag < tag) {
      if (!op_range(cursor, hdr)) return AE_NOMEM;
      cursor = hdr;
      const Str *s = add_bytes(&p_add[add_i++], enc);
      if (!op_push(P_MEMORY, (u32)(pb + s->off), s->len)) return AE_NOMEM;
      changed = 1;
    }
    /* what replaces the element: nothing yet (kind 0 = unchanged, 1 = removed, 2 = the pieces
       appended after `piece_mark`) */
    int outcome = 0;
    /* the output up to this element, appended only once the element may change */
    Mark before, piece_mark;
#define BEGIN_CHANGE()                              \
    do {                                            \
      before = mark();                              \
      if (!op_range(cursor, hdr)) return AE_NOMEM;  \
      piece_mark = mark();                          \
    } while (0)
    if (add_i < n_adds && p_add[add_i].tag == tag) {
      BEGIN_CHANGE();
      const Str *s = add_bytes(&p_add[add_i++], enc);
      if (!op_push(P_MEMORY, (u32)(pb + s->off), s->len)) return AE_NOMEM;
      outcome = 2;
    } else {
      u32 group = tag >> 16, elem = tag & 0xffff;
      u32 action;
      const Rule *rule = 0;
      const Masked *masked = 0;
      int implicit_rule = 0;
      if (vr16 != 0 && !standard_vr(vr16) && !(n_keep && kept(tag))) {
        /* an explicit VR no standard defines: nobody can tell what it holds */
        action = 'X';
      } else if (group & 1) {
        if (group != creator_group) {
          creator_group = group;
          creator_gen[level]++;
        }
        if (elem >= 0x10 && elem <= 0xff && len != UNDEF) {
          const u8 *v = value_of(r);
          if (!v && len) return A_NEED_ALL;
          u32 a = 0, b = strip_end(v, len);
          trim(v, &a, &b);
          Creator *c = &creators[level][elem];
          c->gen = creator_gen[level]; c->off = (u32)(v + a); c->len = b - a;
        }
        action = private_action(tag, level);
      } else if (n_keep && kept(tag)) {
        action = 'K';
      } else if (elem == 0 || group == 2) {
        /* group lengths would be wrong after any change; meta elements belong in the meta group */
        action = 'X';
      } else {
        rule = find_rule(tag);
        if (!rule) masked = find_masked(tag);
        if (rule) action = rule->action;
        else if (masked) action = masked->action;
        else if ((p_flags & PF_REPLACE_OTHER_UIDS) && (vr16 ? vr16 == VR2('U', 'I') : !(flags & F_SEQ) && is_ui_tag(tag))) {
          /* DICOM-defined UIDs (one value under 1.2.840.10008.) stay */
          const u8 *v = value_of(r);
          if (!v && len && len != UNDEF) return A_NEED_ALL;
          int defined = len != UNDEF && len >= 14 && bytes_equal(v, DICOM_ROOT, 14);
          for (u32 i = 0; defined && i < len; i++) if (v[i] == '\\') defined = 0;
          action = defined ? 'K' : 'U';
          implicit_rule = 1;
        } else action = 'K';
      }
      /* the common cases that change nothing: no output work at all */
      if (action == 'K' && !((flags & F_SEQ) && !(flags & F_ENCAPS) && !(n_keep && kept(tag)))) continue;
      if ((len == 0 && (action == 'Z' || action == 'S' || action == 'U' || action == 'C')) || (len == UNDEF && (action == 'U' || action == 'C'))) continue;
      BEGIN_CHANGE();
      u32 dict_vr = rule ? rule->vr : masked ? masked->vr : (!vr16 && is_ui_tag(tag) ? VR2('U', 'I') : 0);
      int st = 0, ch = 0;
      switch (action) {
      case 'X':
        outcome = 1;
        break;
      case 'Z':
        if (len == 0) break;
        st = blank(tag, row_vr(r, dict_vr), enc);
        outcome = 2;
        break;
      case 'D': {
        u32 vr = row_vr(r, dict_vr);
        if (vr == VR2('S', 'Q') || (flags & F_SEQ)) {
          st = blank(tag, VR2('S', 'Q'), enc);
          outcome = 2;
        } else if (vr == VR2('U', 'I')) {
          if (len == 0 || len == UNDEF) { outcome = 1; break; }
          const u8 *v = value_of(r);
          if (!v) return A_NEED_ALL;
          st = uid_element(tag, enc, v, len, 0, &ch);
          outcome = ch ? 2 : 0;
        } else if (standard_vr(vr) && !(flags & F_ENCAPS)) {
          u32 value_len = rule ? rule->value_len : masked ? masked->value_len : UNDEF;
          u32 value_off = rule ? rule->value_off : masked ? masked->value_off : 0;
          u32 zeros, text_len = 0, off, size;
          const char *text = dummy_text(vr, &zeros, &text_len);
          if (value_len != UNDEF && text_vr(vr)) size = element(tag, vr, pb + value_off, value_len, vr == VR2('U', 'I') ? 0 : ' ', enc, &off);
          else if (text) size = element(tag, vr, (const u8 *)text, text_len, ' ', enc, &off);
          else {
            static const u8 z[8] = { 0 };
            size = element(tag, vr, z, zeros, 0, enc, &off);
          }
          if (!size) return failed;
          if (!op_push(P_SCRATCH, off, size)) return AE_NOMEM;
          outcome = 2;
        } else outcome = 1;
        break;
      }
      case 'S': {
        if (len == 0) break;
        u32 vr = row_vr(r, dict_vr);
        if (len == UNDEF || (vr != VR2('D', 'A') && vr != VR2('D', 'T'))) { outcome = 1; break; }
        const u8 *v = value_of(r);
        if (!v) return A_NEED_ALL;
        st = date_element(tag, vr, enc, v, len, date_shift);
        outcome = 2;
        break;
      }
      case 'U': {
        if (len == 0 || len == UNDEF) break;
        const u8 *v = value_of(r);
        if (!v) return A_NEED_ALL;
        st = uid_element(tag, enc, v, len, implicit_rule, &ch);
        outcome = ch ? 2 : 0;
        break;
      }
      case 'C': {
        if (len == 0 || len == UNDEF) break;
        const u8 *v = value_of(r);
        if (!v) return A_NEED_ALL;
        u32 vr = row_vr(r, dict_vr) == VR2('U', 'N') ? VR2('U', 'N') : VR2('O', 'B');
        /* header, filtered bytes and padding one after the other in the scratch (one piece with
           what came before); the header is written once the length is known */
        u32 hs = header_size(vr, enc), hoff, fl, off = 0;
        if (!scratch_take(hs, &hoff)) return AE_NOMEM;
        if (len >= 16 && v[0] == 'S' && v[1] == 'V' && v[2] == '1' && v[3] == '0') {
          failed = 0;
          if (!csa_filter(v, len, &off, &fl)) {
            if (failed) return failed;
            outcome = 1; /* unreadable: nobody can tell what it holds, so it does not leave */
            break;
          }
        } else {
          const u8 *fb;
          if (!csa_provided(r, &fb, &fl)) { status_arg = r; return A_NEED_CSA; }
          if (fl != UNDEF && fl != 0) {
            u8 *c = scratch_take(fl, &off);
            if (!c) return AE_NOMEM;
            __builtin_memcpy(c, fb, fl);
          }
        }
        if (fl == UNDEF || fl == 0) { outcome = 1; break; }
        u32 vlen = fl + (fl & 1);
        if (fl & 1) {
          u32 poff;
          u8 *pad = scratch_take(1, &poff);
          if (!pad) return AE_NOMEM;
          *pad = 0;
        }
        put_header(scratch_block.p + hoff, tag, vr, vlen, enc);
        if (!op_push(P_SCRATCH, hoff, hs + vlen)) return AE_NOMEM;
        outcome = 2;
        break;
      }
      case 'K':
        /* a sequence the caller asked to keep stays as it is, contents included */
        if ((flags & F_SEQ) && !(flags & F_ENCAPS) && !(n_keep && kept(tag))) {
          st = rewrite_sequence(r, enc, level, &ch);
          outcome = ch ? 2 : 0;
        }
        break;
      default:
        return AE_PROFILE;
      }
      if (st) return st;
    }
#undef BEGIN_CHANGE
    if (outcome == 0) {
      reset(before);
      continue;
    }
    if (outcome == 1) reset(piece_mark);
    cursor = el_end;
    changed = 1;
  }
  if (add_i < n_adds) {
    if (!op_range(cursor, end)) return AE_NOMEM;
    cursor = end;
    while (add_i < n_adds) {
      const Str *s = add_bytes(&p_add[add_i++], enc);
      if (!op_push(P_MEMORY, (u32)(pb + s->off), s->len)) return AE_NOMEM;
    }
    changed = 1;
  }
  if (!changed) {
    reset(m0);
    *changed_out = 0;
    return 0;
  }
  if (!op_range(cursor, end)) return AE_NOMEM;
  *changed_out = 1;
  return 0;
}

/* Appends the sequence in row r (header to end) when any of its items changed. */
static int rewrite_sequence(u32 r, Enc enc, u32 level, int *changed_out) {
  u32 *so = rows + r * ROW_WORDS;
  u32 seq_flags = so[R_VRF] >> 16;
  u32 seq_end_row = so[R_NEXT], seq_hdr = so[R_HDR], seq_val = so[R_VAL];
  int seq_undef = so[R_LEN] == UNDEF;
  Mark m0 = mark();
  u32 head_off = 0, head_size = 0;
  if (seq_undef) {
    if (!op_range(seq_hdr, seq_val)) return AE_NOMEM;
  } else {
    /* the header, written once the new length is known */
    head_size = header_size(row_vr(r, 0), enc);
    if (!scratch_take(head_size, &head_off) || !op_push(P_SCRATCH, head_off, head_size)) return AE_NOMEM;
  }
  u64 body_from = out_total;
  int changed = 0;
  u32 cursor = seq_val;
  for (u32 k = r + 1; k < seq_end_row; k = rows[k * ROW_WORDS + R_NEXT]) {
    u32 *ko = rows + k * ROW_WORDS;
    u32 item_flags = ko[R_VRF] >> 16;
    Enc ie;
    ie.explicit_vr = ((seq_flags | item_flags) & F_IMPLICIT) || !enc.explicit_vr ? 0 : 1;
    ie.le = item_flags & F_BE ? 0 : 1;
    u32 hdr = ko[R_HDR], val = ko[R_VAL], item_end = ko[R_END];
    int undef = ko[R_LEN] == UNDEF;
    u32 content_end = undef ? item_end - 8 : val + ko[R_LEN];
    Mark m = mark();
    if (!op_range(cursor, hdr)) return AE_NOMEM;
    u32 ih_off = 0;
    if (undef) {
      if (!op_range(hdr, val)) return AE_NOMEM;
    } else if (!scratch_take(8, &ih_off) || !op_push(P_SCRATCH, ih_off, 8)) return AE_NOMEM;
    u64 item_from = out_total;
    int ch = 0;
    int st = rewrite_rows(k + 1, ko[R_NEXT], val, content_end, 0, ie, level + 1, &ch);
    if (st) return st;
    if (!ch) {
      reset(m);
      continue;
    }
    if (undef) {
      if (!op_range(item_end - 8, item_end)) return AE_NOMEM;
    } else {
      u64 size = out_total - item_from;
      if (size > 0xfffffffeu) return AE_VALUE_TOO_LONG;
      u8 *h = scratch_block.p + ih_off;
      put16(h, 0xfffe, ie.le);
      put16(h + 2, 0xe000, ie.le);
      put32(h + 4, (u32)size, ie.le);
    }
    cursor = item_end;
    changed = 1;
  }
  if (!changed) {
    reset(m0);
    *changed_out = 0;
    return 0;
  }
  if (!op_range(cursor, so[R_END])) return AE_NOMEM;
  if (!seq_undef) {
    u64 size = out_total - body_from;
    if (size > 0xfffffffeu) return AE_VALUE_TOO_LONG;
    put_header(scratch_block.p + head_off, so[R_TAG], row_vr(r, 0), (u32)size, enc);
  }
  *changed_out = 1;
  return 0;
}

/* ---- exports: one call's steps (src/anonymize/core.ts) ---- */

/* Room for n rows (the caller writes them); resets the call's state. */
EXPORT("an_rows") u32 *an_rows(u32 n) {
  if (!block_reserve(&rows_block, n * ROW_WORDS * 4 + 4, 0) || !block_reserve(&vptr_block, n * 4 + 4, 0)) return 0;
  rows = (u32 *)rows_block.p;
  vptr = (u32 *)vptr_block.p;
  n_rows = n;
  csa_used = 0;
  return rows;
}

static int csa_candidate(u32 tag) {
  u32 group = tag >> 16, elem = tag & 0xffff;
  if (!(group & 1) || elem < 0x1000) return 0;
  for (u32 i = 0; i < n_safe; i++) if (p_safe[i].group == group && p_safe[i].element == (elem & 0xff) && p_safe[i].action == 'C') return 1;
  return 0;
}

static int has_value(const u32 *ro) {
  u32 flags = ro[R_VRF] >> 16;
  return !(flags & (F_ITEM | F_FRAGMENT | F_SEQ | F_ENCAPS | F_META)) && ro[R_LEN] != UNDEF && ro[R_LEN] > 0;
}

/* The ranges of the input the pass reads: (source offset, length, destination address) triples at
   an_ranges_ptr(), for the caller to copy. Returns the count, or UNDEF when memory runs out. */
EXPORT("an_plan") u32 an_plan(u32 length) {
  file_len = length;
  n_ranges = 0;
  whole_input = 0;
  u32 total = 0, a = 0, b = 0;
  for (int pass = 0; pass < 2; pass++) {
    u32 n = 0, cum = 0;
    int open = 0;
    u32 *rg = (u32 *)ranges_block.p;
    for (u32 r = 0; r < n_rows; r++) {
      const u32 *ro = rows + r * ROW_WORDS;
      vptr[r] = 0;
      if (!has_value(ro)) continue;
      u32 len = ro[R_LEN];
      if (len > SMALL_VALUE && !csa_candidate(ro[R_TAG])) continue;
      u32 v = ro[R_VAL];
      if (open && v >= b && v - b <= MERGE_GAP) {
        if (v + len > b) b = v + len;
      } else {
        if (open) {
          if (pass) { rg[n * 3] = a; rg[n * 3 + 1] = b - a; rg[n * 3 + 2] = (u32)values_block.p + cum; }
          cum += b - a;
          n++;
        }
        a = v;
        b = v + len;
        open = 1;
      }
      if (pass) vptr[r] = (u32)values_block.p + cum + (v - a);
    }
    if (open) {
      if (pass) { rg[n * 3] = a; rg[n * 3 + 1] = b - a; rg[n * 3 + 2] = (u32)values_block.p + cum; }
      cum += b - a;
      n++;
    }
    if (!pass) {
      total = cum;
      if (!block_reserve(&ranges_block, n * 12 + 12, 0) || !block_reserve(&values_block, total + 16, 0)) return UNDEF;
    }
    n_ranges = n;
  }
  return n_ranges;
}

/* After A_NEED_ALL: room for the whole input; every value is then read from there. */
EXPORT("an_plan_all") u8 *an_plan_all(u32 length) {
  if (!block_reserve(&values_block, length + 16, 0)) return 0;
  for (u32 r = 0; r < n_rows; r++) vptr[r] = (u32)values_block.p + rows[r * ROW_WORDS + R_VAL];
  whole_input = 1;
  return values_block.p;
}

static const u8 *in_memory(u32 a, u32 b) {
  if (whole_input) return b <= file_len ? values_block.p + a : 0;
  const u32 *rg = (const u32 *)ranges_block.p;
  for (u32 i = 0; i < n_ranges; i++) {
    u32 s = rg[i * 3], n = rg[i * 3 + 1];
    if (a >= s && b <= s + n) return (const u8 *)rg[i * 3 + 2] + (a - s);
    if (s > a) break;
  }
  return 0;
}

EXPORT("an_ranges_ptr") u32 *an_ranges_ptr(void) { return (u32 *)ranges_block.p; }

/* Room for an old-format CSA header's filtered bytes for row r (len UNDEF: it does not parse). */
EXPORT("an_csa_provide") u8 *an_csa_provide(u32 r, u32 len) {
  u32 size = len == UNDEF ? 0 : len;
  u32 need = csa_used + 8 + ((size + 3) & ~3u);
  if (!block_reserve(&csa_block, need, csa_used)) return 0;
  u8 *p = csa_block.p + csa_used;
  *(u32 *)p = r;
  *(u32 *)(p + 4) = len;
  csa_used = need;
  return p + 8;
}

/* The pass over the data set [start, end) in the given encoding (bit 0 explicit VR, bit 1 little
   endian). A_OK: the pieces are at an_ops_ptr() (kind, a, length), an_out_len() bytes in all. */
EXPORT("an_run") u32 an_run(u32 start, u32 end, u32 enc_bits, i32 days) {
  n_ops = 0;
  scratch_len = 0;
  out_total = 0;
  status_arg = 0;
  date_shift = days;
  for (u32 l = 0; l < MAX_LEVELS; l++) creator_gen[l]++;
  Enc enc = { enc_bits & 1, (enc_bits >> 1) & 1 };
  int changed = 0;
  int st = rewrite_rows(0, n_rows, start, end, 1, enc, 0, &changed);
  if (st == A_NEED_ALL || st == A_NEED_CSA) return (u32)st;
  if (st) {
    status_arg = (u32)st;
    return A_ERROR;
  }
  if (!changed && !op_range(start, end)) { status_arg = AE_NOMEM; return A_ERROR; }
  return A_OK;
}

EXPORT("an_arg") u32 an_arg(void) { return status_arg; }
EXPORT("an_ops_ptr") u32 *an_ops_ptr(void) { return (u32 *)ops_block.p; }
EXPORT("an_ops_count") u32 an_ops_count(void) { return n_ops; }
EXPORT("an_scratch_ptr") u8 *an_scratch_ptr(void) { return scratch_block.p; }
EXPORT("an_out_len") u32 an_out_len(void) { return out_total > 0xffffffffull ? UNDEF : (u32)out_total; }
EXPORT("an_uid_cache_clear") void an_uid_cache_clear(void) { uid_cache_clear(); }
