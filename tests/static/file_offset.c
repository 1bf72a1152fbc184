/*
 * file_offset: a regular file (--filename) opened O_RDWR, written and
 * lseek'd to an odd offset.  After restore: the offset, the open flags,
 * the size and the contents must be unchanged, and the fd must still refer
 * to the same file.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

#define DATA_LEN (256 * 1024 + 123)
#define OFFSET 77777

int main(int argc, char **argv)
{
	static unsigned char buf[DATA_LEN];
	struct stat st_before, st, st_path;
	uint32_t crc = ~0u;
	off_t off;
	int fd, fl, ret = 0;

	test_init(argc, argv);

	fd = open(filename, O_RDWR | O_CREAT | O_EXCL, 0640);
	if (fd < 0) {
		pr_perror("can't create %s", filename);
		return 1;
	}
	datagen(buf, sizeof(buf), &crc);
	if (write_all(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		pr_perror("write %s", filename);
		return 1;
	}
	if (lseek(fd, OFFSET, SEEK_SET) != OFFSET || fstat(fd, &st_before)) {
		pr_perror("lseek/fstat");
		return 1;
	}

	test_daemon();
	test_waitsig();

	off = lseek(fd, 0, SEEK_CUR);
	if (off != OFFSET) {
		fail("file offset is %lld, expected %d", (long long)off, OFFSET);
		ret = 1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDWR || (fl & (O_APPEND | O_NONBLOCK))) {
		fail("open flags changed: %#x", fl);
		ret = 1;
	}
	if (fstat(fd, &st) || stat(filename, &st_path)) {
		fail("stat %s", filename);
		return 1;
	}
	if (st.st_size != DATA_LEN || (st.st_mode & 07777) != 0640 || st.st_nlink != 1) {
		fail("file attributes changed: size %lld mode %o nlink %lu", (long long)st.st_size,
		     st.st_mode & 07777, (unsigned long)st.st_nlink);
		ret = 1;
	}
	if (st.st_ino != st_path.st_ino || st.st_dev != st_path.st_dev) {
		fail("the fd no longer refers to %s", filename);
		ret = 1;
	}
	/* a read continues at the offset ... */
	if (read_all(fd, buf + OFFSET, sizeof(buf) - OFFSET) != (ssize_t)(sizeof(buf) - OFFSET) ||
	    pread(fd, buf, OFFSET, 0) != OFFSET) {
		fail("can't read %s back", filename);
		return 1;
	}
	crc = ~0u;
	if (datachk(buf, sizeof(buf), &crc)) {
		fail("contents of %s changed", filename);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
