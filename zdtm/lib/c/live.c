/*
 * Helpers for live workloads; see live.h.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "live.h"
#include "zdtmtst.h"

uint64_t live_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint8_t stream_byte(uint64_t i, uint64_t seed, uint64_t *cache_word, uint64_t *cache_idx)
{
	uint64_t w = i >> 3;

	if (w != *cache_idx) {
		*cache_idx = w;
		*cache_word = live_mix64(seed ^ live_mix64(w));
	}
	return (uint8_t)(*cache_word >> (8 * (i & 7)));
}

void live_stream_fill(void *buf, size_t len, uint64_t off, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t word = 0, idx = UINT64_MAX;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = stream_byte(off + i, seed, &word, &idx);
}

ssize_t live_stream_check(const void *buf, size_t len, uint64_t off, uint64_t seed)
{
	const uint8_t *p = buf;
	uint64_t word = 0, idx = UINT64_MAX;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != stream_byte(off + i, seed, &word, &idx))
			return (ssize_t)i;
	return -1;
}

uint32_t live_rec_len(uint64_t seq, uint64_t seed, uint32_t min, uint32_t max)
{
	if (max <= min)
		return min;
	return min + (uint32_t)(live_mix64(seed * 31 + seq) % (max - min + 1));
}

void live_rec_fill(void *buf, uint32_t len, uint64_t seq, uint64_t seed)
{
	struct live_rec *r = buf;
	size_t hdr = sizeof(*r);

	r->magic = LIVE_REC_MAGIC;
	r->len = len;
	r->seq = seq;
	r->pad = 0;
	live_stream_fill((uint8_t *)buf + hdr, len - hdr, 0, live_mix64(seed ^ seq));
	r->crc = zdtm_crc32(&r->pad, len - offsetof(struct live_rec, pad));
}

const char *live_rec_check(const void *buf, uint32_t len, uint64_t seq, uint64_t seed)
{
	static char why[160];
	const struct live_rec *r = buf;
	size_t hdr = sizeof(*r);
	ssize_t bad;

	if (len < hdr) {
		snprintf(why, sizeof(why), "record of %u bytes is shorter than a header", len);
		return why;
	}
	if (r->magic != LIVE_REC_MAGIC) {
		snprintf(why, sizeof(why), "bad magic %#x", r->magic);
		return why;
	}
	if (r->len != len) {
		snprintf(why, sizeof(why), "length %u, expected %u", r->len, len);
		return why;
	}
	if (r->seq != seq) {
		snprintf(why, sizeof(why), "sequence number %llu, expected %llu",
			 (unsigned long long)r->seq, (unsigned long long)seq);
		return why;
	}
	if (r->crc != zdtm_crc32(&r->pad, len - offsetof(struct live_rec, pad))) {
		snprintf(why, sizeof(why), "CRC mismatch in record %llu", (unsigned long long)seq);
		return why;
	}
	bad = live_stream_check((const uint8_t *)buf + hdr, len - hdr, 0, live_mix64(seed ^ seq));
	if (bad >= 0) {
		snprintf(why, sizeof(why), "payload of record %llu differs at byte %zd",
			 (unsigned long long)seq, bad);
		return why;
	}
	return NULL;
}

void *live_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}
