/*
 * growsdown00: a MAP_GROWSDOWN mapping (a stack-like VMA).
 * 64 pages are reserved PROT_NONE; the top 4 pages are remapped
 * MAP_GROWSDOWN over them and filled with data, and the 8 pages below them
 * are unmapped: a hole the VMA can grow into (the PROT_NONE rest of the
 * reservation below the hole is not "accessible", so the kernel's stack
 * guard gap does not forbid the growth).  A touch one page below the start
 * grows the VMA by a page, which gets data too.
 * After restore: the VMA still spans exactly the grown range, is still
 * growsdown (VmFlags 'gd'), keeps the data of both parts, and grows again
 * by a page when the byte just below its start is touched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

#define RESERVE 64
#define TOP 4

static long psz;

/* start, end and VmFlags of the VMA containing addr */
static int vma_of(void *addr, unsigned long *start, unsigned long *end, char *flags, size_t len)
{
	char *smaps = read_file("/proc/self/smaps", NULL), *line, *save = NULL;
	unsigned long a = (unsigned long)addr;
	int in = 0;

	if (!smaps)
		return -1;
	for (line = strtok_r(smaps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= s && a < e;
			if (in) {
				*start = s;
				*end = e;
			}
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, len, "%s ", line + 8);
			free(smaps);
			return 0;
		}
	}
	free(smaps);
	return -1;
}

static int check_vma(unsigned char *lo, unsigned char *hi)
{
	unsigned long s, e;
	char flags[256];

	if (vma_of(hi - 1, &s, &e, flags, sizeof(flags))) {
		fail("no VMA at %p", hi - 1);
		return 1;
	}
	if (s != (unsigned long)lo || e != (unsigned long)hi) {
		fail("the growsdown VMA is %lx-%lx, expected %p-%p", s, e, lo, hi);
		return 1;
	}
	if (!strstr(flags, " gd ")) {
		fail("the VMA %lx-%lx lost VM_GROWSDOWN (VmFlags%s)", s, e, flags);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char *res, *top, *hi, *lo;
	uint32_t crc_top, crc_grown;
	int ret = 0;

	test_init(argc, argv);

	psz = sysconf(_SC_PAGESIZE);
	res = mmap(NULL, RESERVE * psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		pr_perror("mmap reservation");
		return 1;
	}
	hi = res + RESERVE * psz;
	top = mmap(hi - TOP * psz, TOP * psz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED, -1, 0);
	if (top == MAP_FAILED) {
		pr_perror("mmap MAP_GROWSDOWN");
		return 1;
	}
	datagen2(top, TOP * psz, &crc_top);
	if (check_vma(top, hi)) {
		pr_err("the growsdown VMA is wrong after mmap");
		return 1;
	}
	/* the reservation just below is in the way: give the stack room to grow */
	if (munmap(res + (RESERVE - TOP - 8) * psz, 8 * psz)) {
		pr_perror("munmap");
		return 1;
	}
	/* grow by one page */
	lo = top - psz;
	memset(lo, 0x5a, psz);
	datagen2(lo, psz, &crc_grown);
	if (check_vma(lo, hi)) {
		pr_err("the growsdown VMA did not grow");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_vma(lo, hi);
	if (datachk2(top, TOP * psz, crc_top)) {
		fail("the original pages' data changed");
		ret = 1;
	}
	if (datachk2(lo, psz, crc_grown)) {
		fail("the grown page's data changed");
		ret = 1;
	}
	/* it still grows */
	if (!ret) {
		lo[-1] = 1;
		ret |= check_vma(lo - psz, hi);
		if (ret)
			fail("the VMA does not grow down after restore");
	}
	if (!ret)
		pass();
	return ret;
}
