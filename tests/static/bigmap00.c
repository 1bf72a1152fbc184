/*
 * bigmap00: large anonymous mappings.
 *  - a 256 MB sparse mapping (MAP_NORESERVE, no THP) where only 24 pages
 *    spread over it were written (datagen, one CRC per page);
 *  - a 32 MB mapping filled completely with datagen().
 * After restore: all written data is intact, and the sparse mapping is
 * still sparse: mincore() reports exactly the 24 written pages resident
 * (criu must not have turned the holes into real pages), and the holes
 * read as zeroes (checked last, since reading maps the zero page).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define SPARSE_LEN (256UL << 20)
#define FULL_LEN (32UL << 20)
#define NR_WRITTEN 24

static long psz;
static unsigned long written[NR_WRITTEN]; /* page numbers */
static uint32_t crcs[NR_WRITTEN];

static int is_written(unsigned long pg)
{
	int i;

	for (i = 0; i < NR_WRITTEN; i++)
		if (written[i] == pg)
			return 1;
	return 0;
}

static int check_sparse(unsigned char *sp, int read_holes)
{
	unsigned long npages = SPARSE_LEN / psz, pg, resident = 0, bad = 0;
	unsigned char *vec = malloc(npages);
	int i, ret = 0;

	if (!vec) {
		fail("malloc");
		return 1;
	}
	for (i = 0; i < NR_WRITTEN; i++)
		if (datachk2(sp + written[i] * psz, psz, crcs[i])) {
			fail("sparse mapping: page %lu changed", written[i]);
			ret = 1;
		}
	if (mincore(sp, SPARSE_LEN, vec)) {
		fail("mincore");
		free(vec);
		return 1;
	}
	for (pg = 0; pg < npages; pg++) {
		if (!(vec[pg] & 1))
			continue;
		resident++;
		if (!is_written(pg) && bad++ < 3)
			test_msg("page %lu of the sparse mapping is resident but was never written\n", pg);
	}
	if (resident != NR_WRITTEN || bad) {
		fail("sparse mapping: %lu pages resident (%lu never written), expected exactly %d", resident,
		     bad, NR_WRITTEN);
		ret = 1;
	}
	free(vec);
	if (read_holes)
		for (pg = 0; pg < npages; pg++) {
			unsigned long *p = (unsigned long *)(sp + pg * psz), k;

			if (is_written(pg))
				continue;
			for (k = 0; k < psz / sizeof(long); k++)
				if (p[k]) {
					fail("sparse mapping: hole page %lu is not zero", pg);
					return 1;
				}
		}
	return ret;
}

int main(int argc, char **argv)
{
	unsigned char *sp, *full;
	uint32_t crc = ~0u;
	int i, ret = 0;

	test_init(argc, argv);

	psz = sysconf(_SC_PAGESIZE);
	sp = mmap(NULL, SPARSE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	full = mmap(NULL, FULL_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sp == MAP_FAILED || full == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}
	/* a THP fault would populate 2 MB at once: keep the sparse mapping in small pages */
	madvise(sp, SPARSE_LEN, MADV_NOHUGEPAGE);

	for (i = 0; i < NR_WRITTEN; i++) {
		/* spread over the mapping: first and last page, the rest in between */
		written[i] = (SPARSE_LEN / psz - 1) * i / (NR_WRITTEN - 1);
		if (i % 5 == 2)
			written[i] += 1; /* a few off the regular grid */
		datagen2(sp + written[i] * psz, psz, &crcs[i]);
	}
	datagen(full, FULL_LEN, &crc);

	if (check_sparse(sp, 0)) {
		pr_err("the sparse mapping is wrong before C/R");
		return 1;
	}

	test_daemon();
	test_waitsig();

	crc = ~0u;
	if (datachk(full, FULL_LEN, &crc)) {
		fail("the 32 MB mapping's data is corrupted");
		ret = 1;
	}
	ret |= check_sparse(sp, 1);
	if (!ret)
		pass();
	return ret;
}
