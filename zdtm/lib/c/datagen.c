/*
 * Pseudo-random data and CRC32, to prove that memory and file contents
 * survive checkpoint/restore.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

static uint32_t crc_table[256];

static void __attribute__((constructor)) crc_table_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t zdtm_crc32_update(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

uint32_t zdtm_crc32(const void *buf, size_t len)
{
	return ~zdtm_crc32_update(~0u, buf, len);
}

/* xorshift64*, seeded differently for every call */
static void fill_random(void *buf, size_t len, uint32_t seed)
{
	static uint64_t counter;
	unsigned char *p = buf;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = ((uint64_t)seed << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 17) ^
	    (__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull);
	if (!x)
		x = 0x2545F4914F6CDD1Dull;

	while (len) {
		uint64_t r;
		size_t n;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		r = x * 0x2545F4914F6CDD1Dull;
		n = len < sizeof(r) ? len : sizeof(r);
		memcpy(p, &r, n);
		p += n;
		len -= n;
	}
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void datagen(void *buf, size_t len, uint32_t *crc)
{
	unsigned char *p = buf;

	if (len < 4) {
		fill_random(buf, len, *crc);
		*crc = zdtm_crc32_update(*crc, buf, len);
		return;
	}
	fill_random(p, len - 4, *crc);
	*crc = zdtm_crc32_update(*crc, p, len - 4);
	put_le32(p + len - 4, *crc);
}

int datachk(const void *buf, size_t len, uint32_t *crc)
{
	const unsigned char *p = buf;

	if (len < 4)
		return 1;
	*crc = zdtm_crc32_update(*crc, p, len - 4);
	return *crc == get_le32(p + len - 4) ? 0 : 1;
}

void datagen2(void *buf, size_t len, uint32_t *crc)
{
	fill_random(buf, len, *crc);
	*crc = zdtm_crc32(buf, len);
}

int datachk2(const void *buf, size_t len, uint32_t crc)
{
	return zdtm_crc32(buf, len) == crc ? 0 : 1;
}
