/*
 * unlink00: an unlinked but open file.  Written with datagen(), left at an
 * offset, then unlinked.  After restore: still unlinked (nlink 0, the path
 * does not exist), same size, offset and contents.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

#define DATA_LEN (100 * 1000)
#define OFFSET 4321

int main(int argc, char **argv)
{
	static unsigned char buf[DATA_LEN];
	uint32_t crc = ~0u;
	struct stat st;
	off_t off;
	int fd, ret = 0;

	test_init(argc, argv);

	fd = open(filename, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		pr_perror("can't create %s", filename);
		return 1;
	}
	datagen(buf, sizeof(buf), &crc);
	if (write_all(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    lseek(fd, OFFSET, SEEK_SET) != OFFSET) {
		pr_perror("write/lseek %s", filename);
		return 1;
	}
	if (unlink(filename)) {
		pr_perror("unlink %s", filename);
		return 1;
	}

	test_daemon();
	test_waitsig();

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
	if (st.st_size != DATA_LEN) {
		fail("size is %lld, expected %d", (long long)st.st_size, DATA_LEN);
		ret = 1;
	}
	off = lseek(fd, 0, SEEK_CUR);
	if (off != OFFSET) {
		fail("offset is %lld, expected %d", (long long)off, OFFSET);
		ret = 1;
	}
	if (pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
		fail("can't read the file back");
		return 1;
	}
	crc = ~0u;
	if (datachk(buf, sizeof(buf), &crc)) {
		fail("contents of the unlinked file changed");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
