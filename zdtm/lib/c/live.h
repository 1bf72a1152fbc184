/*
 * live.h - helpers for live workloads (tests/live/): deterministic data
 * streams whose every byte can be checked at any offset, self-checking
 * records with sequence numbers, shared counters.
 */
#ifndef ZDTM_LIVE_H
#define ZDTM_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A 64-bit mixing function (splitmix64 finaliser): a cheap keyed PRNG. */
uint64_t live_mix64(uint64_t x);

/*
 * An endless byte stream defined by `seed`: byte i is a function of (seed, i)
 * only, so a consumer can check whatever chunk it gets at whatever offset.
 * live_stream_fill(): buf := stream[off, off+len).
 * live_stream_check(): -1 if buf == stream[off, off+len), otherwise the index
 * (within buf) of the first byte that differs.
 */
void live_stream_fill(void *buf, size_t len, uint64_t off, uint64_t seed);
ssize_t live_stream_check(const void *buf, size_t len, uint64_t off, uint64_t seed);

/*
 * Self-checking records: a header (magic, sequence number, total length,
 * CRC32 of everything after the crc field) and a payload derived from
 * (seed, seq).  len >= sizeof(struct live_rec).
 */
struct live_rec {
	uint32_t magic;
	uint32_t len;	/* the whole record, header included */
	uint64_t seq;
	uint32_t crc;	/* zdtm_crc32 of the bytes after this field */
	uint32_t pad;
	/* payload follows */
};

#define LIVE_REC_MAGIC 0x4c495645u /* "LIVE" */

void live_rec_fill(void *buf, uint32_t len, uint64_t seq, uint64_t seed);
/*
 * NULL if buf holds a valid record of exactly `len` bytes with sequence
 * number `seq` derived from `seed`; otherwise a short description of what is
 * wrong (in a static buffer).
 */
const char *live_rec_check(const void *buf, uint32_t len, uint64_t seq, uint64_t seed);

/* Length of record `seq` in a stream of records of varying size in [min, max]. */
uint32_t live_rec_len(uint64_t seq, uint64_t seed, uint32_t min, uint32_t max);

/* An anonymous MAP_SHARED area of `len` bytes (zeroed), or NULL (errno set). */
void *live_shared(size_t len);

#endif /* ZDTM_LIVE_H */
