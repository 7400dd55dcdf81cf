#ifndef DICOM_SHA256_H
#define DICOM_SHA256_H
#include "core.h"
typedef struct {
  u32 h[8];
  u64 len;
  u8 buf[64];
  u32 fill;
} Sha256;
void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const u8 *p, u32 n);
/* the digest as eight big-endian words */
void sha256_final_words(Sha256 *s, u32 out[8]);
#endif
