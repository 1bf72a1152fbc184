/*
 * opath00: O_PATH file descriptors (they name a file without opening it).
 *  - on a regular file (data written through a normal fd, which is closed);
 *  - on a directory, used as the dirfd of openat()/fstatat();
 *  - on a symbolic link itself (O_PATH|O_NOFOLLOW).
 * After restore: each fd still has O_PATH (and so read() fails with EBADF),
 * refers to the same inode as its path, the directory fd still resolves
 * names inside the directory, the symlink fd is still the link (readlinkat
 * with an empty name gives its target), and the file can be reopened
 * through /proc/self/fd with its contents intact.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

#define DATA_LEN 10000
#define TARGET "file"

static int check_opath(int fd, const char *path, int follow, const char *what)
{
	struct stat a, b;
	char c;
	int fl;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || !(fl & O_PATH)) {
		fail("%s: O_PATH lost (flags %#x)", what, fl);
		return 1;
	}
	errno = 0;
	if (read(fd, &c, 1) != -1 || errno != EBADF) {
		fail("%s: read() did not fail with EBADF: not an O_PATH fd", what);
		return 1;
	}
	errno = 0;
	if (fstat(fd, &a) || (follow ? stat(path, &b) : lstat(path, &b))) {
		fail("%s: stat", what);
		return 1;
	}
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino || a.st_mode != b.st_mode) {
		fail("%s: the fd is no longer %s (ino %lu vs %lu, mode %#o vs %#o)", what, path,
		     (unsigned long)a.st_ino, (unsigned long)b.st_ino, a.st_mode, b.st_mode);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char data[DATA_LEN], buf[DATA_LEN];
	char file[PATH_MAX], link[PATH_MAX], target[PATH_MAX], proc[64];
	uint32_t crc = ~0u;
	struct stat st;
	int fd, pfile, pdir, plink, ret = 0;
	ssize_t n;

	test_init(argc, argv);

	snprintf(file, sizeof(file), "%s/" TARGET, dirname);
	snprintf(link, sizeof(link), "%s/link", dirname);
	if (mkdir(dirname, 0700) || symlink(TARGET, link)) {
		pr_perror("mkdir/symlink in %s", dirname);
		return 1;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		pr_perror("create %s", file);
		return 1;
	}
	datagen(data, sizeof(data), &crc);
	if (write_all(fd, data, sizeof(data)) != (ssize_t)sizeof(data) || close(fd)) {
		pr_perror("write %s", file);
		return 1;
	}
	pfile = open(file, O_PATH);
	pdir = open(dirname, O_PATH | O_DIRECTORY);
	plink = open(link, O_PATH | O_NOFOLLOW);
	if (pfile < 0 || pdir < 0 || plink < 0) {
		pr_perror("open O_PATH");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	ret |= check_opath(pfile, file, 1, "O_PATH file");
	ret |= check_opath(pdir, dirname, 1, "O_PATH directory");
	ret |= check_opath(plink, link, 0, "O_PATH symlink");

	/* the directory fd resolves names */
	if (fstatat(pdir, TARGET, &st, 0) || !S_ISREG(st.st_mode) || st.st_size != DATA_LEN) {
		fail("fstatat(dirfd, \"" TARGET "\") does not find the file");
		ret = 1;
	}
	fd = openat(pdir, TARGET, O_RDONLY);
	if (fd < 0 || read_all(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		fail("openat(dirfd, \"" TARGET "\") + read");
		ret = 1;
	} else {
		crc = ~0u;
		if (datachk(buf, sizeof(buf), &crc)) {
			fail("contents read through the directory fd changed");
			ret = 1;
		}
	}
	if (fd >= 0)
		close(fd);

	/* the symlink fd is the link, not its target */
	n = readlinkat(plink, "", target, sizeof(target) - 1);
	if (n < 0) {
		fail("readlinkat(symlink fd, \"\")");
		ret = 1;
	} else {
		target[n] = '\0';
		if (strcmp(target, TARGET)) {
			fail("the symlink fd reads \"%s\", expected \"" TARGET "\"", target);
			ret = 1;
		}
	}

	/* an O_PATH fd can be upgraded through /proc/self/fd */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfile);
	fd = open(proc, O_RDONLY);
	if (fd < 0 || read_all(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		fail("reopen %s + read", proc);
		ret = 1;
	} else {
		crc = ~0u;
		if (datachk(buf, sizeof(buf), &crc)) {
			fail("contents read through the reopened O_PATH fd changed");
			ret = 1;
		}
	}
	if (!ret)
		pass();
	return ret;
}
