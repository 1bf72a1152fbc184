/*
 * bind00: a bind mount of a directory of the work dir, made in the test's
 * own mount namespace (mount(2) needs CAP_SYS_ADMIN over it: suid; flavors
 * ns/uns only -- in h it would be a mount in the host's namespace, which
 * criu does not checkpoint).
 *
 * bind_src/ (a plain directory on the work dir's filesystem) holds file a
 * (datagen data) and subdirectory d/; it is bound at bind_dst/, where
 * file b is then created through the new path.  An fd is kept open on
 * bind_dst/b.  After restore:
 *  - bind_dst is a mount point again, a bind of the same directory:
 *    mountinfo's root of the mount is the source directory's path, the
 *    two paths have the same device and inode, and bind_dst is not
 *    overmounted (one mount there);
 *  - a and b have their contents through both paths;
 *  - a file created through bind_src now appears in bind_dst and vice
 *    versa (the same directory, not a copy);
 *  - the fd opened through bind_dst is on the bind mount (its fdinfo
 *    mnt_id is the bind's mount id) and still reads b.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

#define SRC "bind_src"
#define DST "bind_dst"
#define A_LEN 20000

static const char b_data[] = "file b, written through the bind mount\n";

static int check_file(const char *path, const void *want, size_t len)
{
	char *buf = malloc(len + 1);
	int fd = open(path, O_RDONLY), ret = 1;
	ssize_t n;

	if (fd < 0 || !buf) {
		fail("open %s", path);
		goto out;
	}
	n = read_all(fd, buf, len + 1);
	if (n != (ssize_t)len || memcmp(buf, want, len)) {
		fail("%s: read %zd bytes, not the %zu written", path, n, len);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0 || write_all(fd, data, len) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

int main(int argc, char **argv)
{
	static unsigned char a_data[A_LEN];
	char src[PATH_MAX], dst[PATH_MAX], p1[PATH_MAX + 32], p2[64], buf[PATH_MAX + 32];
	struct nsu_mount m;
	struct stat s1, s2;
	uint32_t crc = ~0u;
	int fd, n, ret = 0;

	test_init(argc, argv);

	if (nsu_abspath(SRC, src, sizeof(src)) || nsu_abspath(DST, dst, sizeof(dst))) {
		pr_perror("getcwd");
		return 1;
	}
	datagen(a_data, A_LEN, &crc);
	if (mkdir(SRC, 0755) || mkdir(SRC "/d", 0700) || mkdir(DST, 0755) ||
	    write_file(SRC "/a", a_data, A_LEN)) {
		pr_perror("preparing " SRC);
		return 1;
	}
	if (mount(src, dst, NULL, MS_BIND, NULL)) {
		pr_perror("bind %s -> %s", src, dst);
		return 1;
	}
	if (write_file(DST "/b", b_data, strlen(b_data))) {
		pr_perror("writing " DST "/b");
		return 1;
	}
	fd = open(DST "/b", O_RDONLY);
	if (fd < 0) {
		pr_perror("open " DST "/b");
		return 1;
	}

	test_daemon();
	test_waitsig();

	n = nsu_mount_at(dst, &m, NULL);
	if (n != 1) {
		fail("%d mounts at %s after restore, expected the bind alone", n, dst);
		return 1;
	}
	/* the bind's root is the source directory inside its filesystem: its
	 * path ends like ours (the fs may be mounted elsewhere than at /) */
	if (strlen(m.root) < strlen("/" SRC) ||
	    strcmp(m.root + strlen(m.root) - strlen("/" SRC), "/" SRC)) {
		fail("the mount at %s has root %s, not the directory %s", dst, m.root, src);
		ret = 1;
	}
	if (stat(src, &s1) || stat(dst, &s2) || s1.st_dev != s2.st_dev || s1.st_ino != s2.st_ino) {
		fail("%s and %s are not the same directory any more", src, dst);
		ret = 1;
	}

	ret |= check_file(SRC "/a", a_data, A_LEN);
	ret |= check_file(DST "/a", a_data, A_LEN);
	ret |= check_file(SRC "/b", b_data, strlen(b_data));
	ret |= check_file(DST "/b", b_data, strlen(b_data));
	if (access(DST "/d", X_OK)) {
		fail(DST "/d is not there");
		ret = 1;
	}

	if (write_file(SRC "/c", "c", 1) || write_file(DST "/e", "e", 1)) {
		fail("creating files after restore");
		ret = 1;
	}
	ret |= check_file(DST "/c", "c", 1);
	ret |= check_file(SRC "/e", "e", 1);

	if (nsu_fd_mnt_id(fd) != m.id) {
		fail("the fd opened through %s is on mount %d, the bind is mount %d", dst, nsu_fd_mnt_id(fd), m.id);
		ret = 1;
	}
	memset(buf, 0, sizeof(buf));
	if (pread(fd, buf, sizeof(buf) - 1, 0) != (ssize_t)strlen(b_data) || strcmp(buf, b_data)) {
		fail("the fd opened through %s no longer reads b", dst);
		ret = 1;
	}
	snprintf(p1, sizeof(p1), "%s/b", dst);
	snprintf(p2, sizeof(p2), "/proc/self/fd/%d", fd);
	n = readlink(p2, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strcmp(buf, p1)) {
		fail("the fd's path is %s, expected %s", buf, p1);
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
