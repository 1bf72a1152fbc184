/*
 * append00: a regular file opened O_RDWR|O_APPEND, written, then lseek'd
 * back to an offset in the middle (the offset matters for reads only).
 * After restore: O_APPEND is still set, the offset is unchanged, a read
 * from it returns the right bytes, and a new write still goes to the end
 * of the file (not to the current offset), leaving the old contents intact.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

#define OLD_LEN (64 * 1024 + 17)
#define NEW_LEN (4096 + 5)
#define OFFSET 1234

int main(int argc, char **argv)
{
	static unsigned char old[OLD_LEN], new[NEW_LEN], buf[OLD_LEN + NEW_LEN];
	uint32_t crc = ~0u, crc2;
	struct stat st;
	off_t off;
	int fd, fl, ret = 0;

	test_init(argc, argv);

	fd = open(filename, O_RDWR | O_APPEND | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		pr_perror("can't create %s", filename);
		return 1;
	}
	datagen(old, sizeof(old), &crc);
	if (write_all(fd, old, sizeof(old)) != (ssize_t)sizeof(old)) {
		pr_perror("write %s", filename);
		return 1;
	}
	if (lseek(fd, OFFSET, SEEK_SET) != OFFSET) {
		pr_perror("lseek");
		return 1;
	}
	datagen2(new, sizeof(new), &crc2);

	test_daemon();
	test_waitsig();
	errno = 0;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || !(fl & O_APPEND) || (fl & O_ACCMODE) != O_RDWR) {
		fail("file flags changed: %#x (O_APPEND|O_RDWR expected)", fl);
		ret = 1;
	}
	off = lseek(fd, 0, SEEK_CUR);
	if (off != OFFSET) {
		fail("offset is %lld, expected %d", (long long)off, OFFSET);
		ret = 1;
	}
	if (read(fd, buf, 16) != 16 || memcmp(buf, old + OFFSET, 16)) {
		fail("read at the offset does not return the file's bytes there");
		ret = 1;
	}

	/* this must land at the end of the file, whatever the offset */
	if (write_all(fd, new, sizeof(new)) != (ssize_t)sizeof(new)) {
		fail("write after restore");
		return 1;
	}
	off = lseek(fd, 0, SEEK_CUR);
	if (off != OLD_LEN + NEW_LEN) {
		fail("offset after the write is %lld, expected the end %d: not appending",
		     (long long)off, OLD_LEN + NEW_LEN);
		ret = 1;
	}
	if (fstat(fd, &st) || st.st_size != OLD_LEN + NEW_LEN) {
		fail("size after the write is %lld, expected %d: the write did not append",
		     (long long)st.st_size, OLD_LEN + NEW_LEN);
		ret = 1;
	}
	if (pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		fail("can't read the file back");
		return 1;
	}
	crc = ~0u;
	if (datachk(buf, OLD_LEN, &crc)) {
		fail("the data written before the checkpoint was overwritten");
		ret = 1;
	}
	if (datachk2(buf + OLD_LEN, NEW_LEN, crc2)) {
		fail("the data written after restore is not at the end of the file");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
