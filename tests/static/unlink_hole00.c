/*
 * unlink_hole00: an unlinked but open sparse file with a large apparent
 * size.  Data at the start, a chunk of data 64 MiB in, and nothing else: the
 * file is then extended to 1 GiB with ftruncate() (a trailing hole) and
 * unlinked, left at an offset inside the hole.
 * After restore: nlink 0 and the name gone; size 1 GiB; offset kept; both
 * data chunks intact; the holes read as zeros; and the file is still sparse
 * (SEEK_DATA/SEEK_HOLE find the same layout, few blocks allocated) --
 * criu must not have written the holes out as zeros.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

#define CHUNK (64 * 1024)
#define OFF_B (64LL << 20)
#define SIZE (1LL << 30)
#define OFFSET (512LL << 20)

static int check_zero(int fd, off_t off, const char *what)
{
	static unsigned char buf[4096];
	size_t i;

	if (pread(fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf)) {
		fail("can't read %s at %lld", what, (long long)off);
		return 1;
	}
	for (i = 0; i < sizeof(buf); i++)
		if (buf[i]) {
			fail("%s at %lld is not zero (byte %zu = %#x)", what, (long long)off, i, buf[i]);
			return 1;
		}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char a[CHUNK], b[CHUNK], buf[CHUNK];
	uint32_t crc_a, crc_b;
	struct stat st;
	off_t off;
	int fd, ret = 0;

	test_init(argc, argv);

	fd = open(filename, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		pr_perror("can't create %s", filename);
		return 1;
	}
	datagen2(a, sizeof(a), &crc_a);
	datagen2(b, sizeof(b), &crc_b);
	if (pwrite(fd, a, sizeof(a), 0) != (ssize_t)sizeof(a) ||
	    pwrite(fd, b, sizeof(b), OFF_B) != (ssize_t)sizeof(b) || ftruncate(fd, SIZE) ||
	    lseek(fd, OFFSET, SEEK_SET) != OFFSET) {
		pr_perror("write/ftruncate/lseek %s", filename);
		return 1;
	}
	if (fstat(fd, &st)) {
		pr_perror("fstat");
		return 1;
	}
	if (st.st_blocks * 512 >= 8 * CHUNK)
		skip("the file system does not keep holes (%lld blocks)", (long long)st.st_blocks);
	if (lseek(fd, CHUNK, SEEK_DATA) != OFF_B) {
		pr_perror("SEEK_DATA does not find the second chunk (no hole support?)");
		return 1;
	}
	if (lseek(fd, OFFSET, SEEK_SET) != OFFSET || unlink(filename)) {
		pr_perror("lseek/unlink %s", filename);
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	if (fstat(fd, &st)) {
		fail("fstat");
		return 1;
	}
	if (st.st_nlink != 0) {
		fail("the file has %lu links after restore, expected 0", (unsigned long)st.st_nlink);
		ret = 1;
	}
	if (access(filename, F_OK) == 0) {
		fail("%s exists again", filename);
		ret = 1;
	}
	if (st.st_size != SIZE) {
		fail("size is %lld, expected %lld", (long long)st.st_size, SIZE);
		ret = 1;
	}
	off = lseek(fd, 0, SEEK_CUR);
	if (off != OFFSET) {
		fail("offset is %lld, expected %lld", (long long)off, OFFSET);
		ret = 1;
	}
	if (pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) || datachk2(buf, sizeof(buf), crc_a)) {
		fail("the data at offset 0 changed");
		ret = 1;
	}
	if (pread(fd, buf, sizeof(buf), OFF_B) != (ssize_t)sizeof(buf) || datachk2(buf, sizeof(buf), crc_b)) {
		fail("the data at offset %lld changed", OFF_B);
		ret = 1;
	}
	ret |= check_zero(fd, CHUNK, "the hole after the first chunk");
	ret |= check_zero(fd, OFF_B - 4096, "the hole before the second chunk");
	ret |= check_zero(fd, OFF_B + CHUNK, "the hole after the second chunk");
	ret |= check_zero(fd, SIZE - 4096, "the end of the file");

	/* still sparse */
	if (st.st_blocks * 512 >= 8 * CHUNK) {
		fail("the file has %lld blocks allocated: the holes were filled", (long long)st.st_blocks);
		ret = 1;
	}
	off = lseek(fd, CHUNK, SEEK_DATA);
	if (off != OFF_B) {
		fail("SEEK_DATA from %d finds data at %lld, expected %lld", CHUNK, (long long)off, OFF_B);
		ret = 1;
	}
	off = lseek(fd, OFF_B, SEEK_HOLE);
	if (off != OFF_B + CHUNK) {
		fail("SEEK_HOLE from %lld finds a hole at %lld, expected %lld", OFF_B, (long long)off,
		     OFF_B + CHUNK);
		ret = 1;
	}
	errno = 0;
	off = lseek(fd, OFF_B + CHUNK, SEEK_DATA);
	if (off != -1 || errno != ENXIO) {
		fail("there is data after the second chunk (SEEK_DATA: %lld)", (long long)off);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
