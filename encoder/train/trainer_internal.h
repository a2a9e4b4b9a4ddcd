/* trainer_internal.h - internal helpers of encoder/train/: counter-based
 * random numbers (pure functions of their arguments, so that masks and data
 * order can be recomputed on resume) and file helpers. Not installed. */
#ifndef PE_TRAINER_INTERNAL_H
#define PE_TRAINER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pe_util.h"

/* splitmix64 finaliser of (seed, stream, i). */
static inline uint64_t pe_tr_hash(uint64_t seed, uint64_t stream, uint64_t i)
{
    return pe_mix64(pe_mix64(seed ^ pe_mix64(stream * 0xD1B54A32D192ED03ull)) ^ i);
}
/* Uniform in [0, 1). */
static inline double pe_tr_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    return (double)(pe_tr_hash(seed, stream, i) >> 11) / 9007199254740992.0;
}
/* x[i] ~ N(0, std^2), i in [0, n), from (seed, stream). */
void enc_tr_normal_fill(float *x, size_t n, float std, uint64_t seed, uint64_t stream);

/* Removes a folder and everything below it (no error when absent). */
int enc_tr_rmtree(const char *path);

#endif
