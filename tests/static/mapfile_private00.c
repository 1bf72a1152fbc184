/*
 * mapfile_private00: a MAP_PRIVATE file mapping modified in memory.
 * --filename gets 16 pages of datagen() data; the test maps it
 * MAP_PRIVATE read-write, rewrites pages 2, 5 and 9 in memory (copy on
 * write), only reads pages 0 and 1, and leaves the rest untouched; page 12
 * is then made read-only.
 * After restore:
 *  - the mapping shows the in-memory data on pages 2, 5, 9 and the file's
 *    data everywhere else;
 *  - the file itself is unchanged (read() against the original CRCs);
 *  - the mapping is still private and still backed by the file: a pwrite()
 *    into the file shows through on a page that was never written (its
 *    page-cache page is still mapped), but not on a written (copied) page;
 *  - a write to the mapping does not reach the file;
 *  - page 12 is read-only, the rest read-write, all 'p' in /proc/self/maps.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file to map", 1);

#define NPAGES 16

static long psz;
static uint32_t file_crc[NPAGES], mem_crc[NPAGES];
static const int written[] = { 2, 5, 9 };

static int is_written(int pg)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(written); i++)
		if (written[i] == pg)
			return 1;
	return 0;
}

static const char *perms_at(char *maps, void *addr, char *out)
{
	char *line, *save = NULL;
	unsigned long a = (unsigned long)addr;

	for (line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx %4s", &s, &e, out) == 3 && a >= s && a < e)
			return out;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned char *buf, *m;
	char perms[8];
	int fd, i, ret = 0;
	volatile unsigned char sink;

	test_init(argc, argv);

	psz = sysconf(_SC_PAGESIZE);
	buf = malloc(psz);
	fd = open(filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!buf || fd < 0) {
		pr_perror("open %s", filename);
		return 1;
	}
	for (i = 0; i < NPAGES; i++) {
		datagen2(buf, psz, &file_crc[i]);
		mem_crc[i] = file_crc[i];
		if (write_all(fd, buf, psz) != psz) {
			pr_perror("write %s", filename);
			return 1;
		}
	}
	m = mmap(NULL, NPAGES * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		pr_perror("mmap");
		return 1;
	}
	for (i = 0; i < (int)ARRAY_SIZE(written); i++)
		datagen2(m + written[i] * psz, psz, &mem_crc[written[i]]);
	sink = m[0];
	sink = m[psz + 100];
	(void)sink;
	if (mprotect(m + 12 * psz, psz, PROT_READ)) {
		pr_perror("mprotect");
		return 1;
	}

	test_daemon();
	test_waitsig();

	/* the mapping */
	for (i = 0; i < NPAGES; i++)
		if (datachk2(m + i * psz, psz, mem_crc[i])) {
			fail("mapping: page %d is not the %s data", i, is_written(i) ? "in-memory" : "file's");
			ret = 1;
		}
	/* the file */
	for (i = 0; i < NPAGES; i++)
		if (pread(fd, buf, psz, i * psz) != psz || datachk2(buf, psz, file_crc[i])) {
			fail("file: page %d changed", i);
			ret = 1;
		}
	/* protections */
	for (i = 0; i < NPAGES; i++) {
		char *maps = read_file("/proc/self/maps", NULL);
		const char *want = i == 12 ? "r--p" : "rw-p";

		if (!maps || !perms_at(maps, m + i * psz, perms) || strcmp(perms, want)) {
			fail("page %d: protection %s, expected %s", i, maps ? perms : "?", want);
			ret = 1;
		}
		free(maps);
	}
	if (ret)
		goto out;

	/* file -> mapping: untouched (page 7) and read-only-faulted (page 1) pages follow the file */
	if (pwrite(fd, "FILE", 4, 7 * psz + 16) != 4 || pwrite(fd, "FILE", 4, 1 * psz + 16) != 4 ||
	    pwrite(fd, "FILE", 4, 5 * psz + 16) != 4) {
		fail("pwrite %s", filename);
		return 1;
	}
	if (memcmp(m + 7 * psz + 16, "FILE", 4) || memcmp(m + 1 * psz + 16, "FILE", 4)) {
		fail("a write to the file is not seen on the never-written pages of the private mapping");
		ret = 1;
	}
	if (!memcmp(m + 5 * psz + 16, "FILE", 4)) {
		fail("a write to the file shows through on a privately written page");
		ret = 1;
	}
	/* mapping -> file: never */
	memcpy(m + 3 * psz, "MEM!", 4);
	if (pread(fd, buf, 4, 3 * psz) != 4 || !memcmp(buf, "MEM!", 4)) {
		fail("a write to the private mapping reached the file");
		ret = 1;
	}
out:
	if (!ret)
		pass();
	return ret;
}
