/*
 * tmpfs00: a tmpfs mounted under the work dir, in the test's own mount
 * namespace (mount(2): suid; flavors ns/uns only).  criu saves a tmpfs
 * that belongs to the checkpointed mount namespace with its contents (it
 * archives them with tar) and recreates it on restore.
 *
 * The tmpfs (size=4m, mode=0751, mounted nosuid,nodev) holds:
 *   data      64 KiB + 123 bytes of datagen data, mode 0640, owner 1000:2000,
 *             mtime 1000000000 s
 *   hardlink  a hard link to data (so st_nlink 2)
 *   sym       a symlink to "dir/exec"
 *   dir/      mode 0710; dir/exec mode 0755, 3 bytes
 *   sticky/   mode 01777
 *   hole      a sparse file of 4 MiB: 4 KiB of data at offset 0, 4 KiB at
 *             3 MiB, a hole everywhere else
 *   empty     mode 0400, empty
 * and an fd is kept open on data at offset 4096.
 * After restore the mount point is a tmpfs again, with its options (size,
 * mode, nosuid, nodev), and every entry has its type, mode, owner, size and
 * contents; data and hardlink are the same inode with st_nlink 2; the
 * symlink points to dir/exec; data's mtime is kept; hole still has its
 * hole (SEEK_HOLE finds it at 4 KiB, SEEK_DATA the second block at 3 MiB,
 * it uses less than 4 MiB of blocks) and its data; the open fd still reads
 * data from offset 4096.  A file created after restore is in the tmpfs (the
 * same device as the mount point), not in the directory below it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

#define MNT "tmpfs"
#define DATA_LEN (65536 + 123)
#define HOLE_SIZE (4 << 20)
#define HOLE_BLK 4096
#define HOLE_OFF2 (3 << 20)
#define MTIME 1000000000

static unsigned char data[DATA_LEN], blk1[HOLE_BLK], blk2[HOLE_BLK];
static uint32_t crc_data, crc1, crc2;

static int mkfile(const char *path, mode_t mode, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);

	if (fd < 0)
		return -1;
	if (write_all(fd, buf, len) != (ssize_t)len || fchmod(fd, mode)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int check_entry(const char *path, mode_t type_mode, uid_t uid, gid_t gid, off_t size)
{
	struct stat st;

	if (lstat(path, &st)) {
		fail("%s is gone", path);
		return 1;
	}
	if ((st.st_mode & (S_IFMT | 07777)) != type_mode || st.st_uid != uid || st.st_gid != gid ||
	    (size >= 0 && st.st_size != size)) {
		fail("%s: mode %o owner %d:%d size %lld; expected mode %o owner %d:%d size %lld", path,
		     st.st_mode & (S_IFMT | 07777), (int)st.st_uid, (int)st.st_gid, (long long)st.st_size,
		     type_mode, (int)uid, (int)gid, (long long)size);
		return 1;
	}
	return 0;
}

static int check_contents(const char *path, off_t off, size_t len, uint32_t crc)
{
	unsigned char *buf = malloc(len);
	int fd = open(path, O_RDONLY), ret = 1;

	if (fd < 0 || !buf) {
		fail("open %s", path);
		goto out;
	}
	if (pread(fd, buf, len, off) != (ssize_t)len || datachk2(buf, len, crc)) {
		fail("%s: the %zu bytes at %lld changed", path, len, (long long)off);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static int check_hole(void)
{
	int fd = open(MNT "/hole", O_RDONLY), ret = 0;
	unsigned char z[HOLE_BLK], buf[HOLE_BLK];
	struct stat st;
	off_t o;

	if (fd < 0) {
		fail("open " MNT "/hole");
		return 1;
	}
	o = lseek(fd, 0, SEEK_HOLE);
	if (o != HOLE_BLK) {
		fail(MNT "/hole: SEEK_HOLE from 0 gives %lld, expected the hole at %d (it was filled?)",
		     (long long)o, HOLE_BLK);
		ret = 1;
	}
	o = lseek(fd, HOLE_BLK, SEEK_DATA);
	if (o != HOLE_OFF2) {
		fail(MNT "/hole: SEEK_DATA from %d gives %lld, expected %d", HOLE_BLK, (long long)o, HOLE_OFF2);
		ret = 1;
	}
	if (fstat(fd, &st) || st.st_blocks * 512 >= HOLE_SIZE / 2) {
		fail(MNT "/hole: it uses %lld bytes of blocks: the holes were filled", (long long)st.st_blocks * 512);
		ret = 1;
	}
	/* the hole reads as zeros */
	memset(z, 0, sizeof(z));
	if (pread(fd, buf, HOLE_BLK, 1 << 20) != HOLE_BLK || memcmp(buf, z, HOLE_BLK)) {
		fail(MNT "/hole: the hole does not read as zeros");
		ret = 1;
	}
	close(fd);
	ret |= check_contents(MNT "/hole", 0, HOLE_BLK, crc1);
	ret |= check_contents(MNT "/hole", HOLE_OFF2, HOLE_BLK, crc2);
	return ret;
}

int main(int argc, char **argv)
{
	struct timespec times[2] = { { MTIME, 0 }, { MTIME, 0 } };
	char mnt[PATH_MAX], buf[64];
	unsigned char rbuf[1000];
	struct stat st1, st2, stm;
	struct statfs sfs;
	struct nsu_mount m;
	int fd, hfd, n, ret = 0;
	ssize_t r;

	test_init(argc, argv);

	if (nsu_abspath(MNT, mnt, sizeof(mnt)) || mkdir(MNT, 0755)) {
		pr_perror("mkdir " MNT);
		return 1;
	}
	if (mount("zdtm-tmpfs00", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0751")) {
		pr_perror("mount tmpfs on %s", mnt);
		return 1;
	}
	datagen2(data, DATA_LEN, &crc_data);
	datagen2(blk1, HOLE_BLK, &crc1);
	datagen2(blk2, HOLE_BLK, &crc2);
	if (mkfile(MNT "/data", 0640, data, DATA_LEN) || chown(MNT "/data", 1000, 2000) ||
	    utimensat(AT_FDCWD, MNT "/data", times, 0) || link(MNT "/data", MNT "/hardlink") ||
	    symlink("dir/exec", MNT "/sym") || mkdir(MNT "/dir", 0710) || chmod(MNT "/dir", 0710) ||
	    mkfile(MNT "/dir/exec", 0755, "#!\n", 3) || mkdir(MNT "/sticky", 01777) ||
	    chmod(MNT "/sticky", 01777) || mkfile(MNT "/empty", 0400, "", 0)) {
		pr_perror("filling the tmpfs");
		return 1;
	}
	hfd = open(MNT "/hole", O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (hfd < 0 || pwrite(hfd, blk1, HOLE_BLK, 0) != HOLE_BLK ||
	    pwrite(hfd, blk2, HOLE_BLK, HOLE_OFF2) != HOLE_BLK || ftruncate(hfd, HOLE_SIZE) || close(hfd)) {
		pr_perror("writing " MNT "/hole");
		return 1;
	}
	fd = open(MNT "/data", O_RDONLY);
	if (fd < 0 || lseek(fd, 4096, SEEK_SET) != 4096) {
		pr_perror("open " MNT "/data");
		return 1;
	}

	test_daemon();
	test_waitsig();

	n = nsu_mount_at(mnt, &m, NULL);
	if (n != 1 || strcmp(m.fstype, "tmpfs")) {
		fail("%s: %d mounts there, the top one of type %s; expected one tmpfs", mnt, n, n > 0 ? m.fstype : "-");
		return 1;
	}
	if (!nsu_has_opt(m.opts, "nosuid") || !nsu_has_opt(m.opts, "nodev") || !nsu_has_opt(m.super_opts, "size=4096k") ||
	    !nsu_has_opt(m.super_opts, "mode=751")) {
		fail("%s: mount options \"%s\" / \"%s\", expected nosuid,nodev / size=4096k,mode=751", mnt, m.opts,
		     m.super_opts);
		ret = 1;
	}
	if (statfs(mnt, &sfs) || sfs.f_type != TMPFS_MAGIC) {
		fail("statfs %s: not a tmpfs", mnt);
		ret = 1;
	}
	ret |= check_entry(MNT, S_IFDIR | 0751, 0, 0, -1);
	ret |= check_entry(MNT "/data", S_IFREG | 0640, 1000, 2000, DATA_LEN);
	ret |= check_entry(MNT "/hardlink", S_IFREG | 0640, 1000, 2000, DATA_LEN);
	ret |= check_entry(MNT "/sym", S_IFLNK | 0777, 0, 0, strlen("dir/exec"));
	ret |= check_entry(MNT "/dir", S_IFDIR | 0710, 0, 0, -1);
	ret |= check_entry(MNT "/dir/exec", S_IFREG | 0755, 0, 0, 3);
	ret |= check_entry(MNT "/sticky", S_IFDIR | 01777, 0, 0, -1);
	ret |= check_entry(MNT "/hole", S_IFREG | 0600, 0, 0, HOLE_SIZE);
	ret |= check_entry(MNT "/empty", S_IFREG | 0400, 0, 0, 0);
	ret |= check_contents(MNT "/data", 0, DATA_LEN, crc_data);
	ret |= check_contents(MNT "/hardlink", 0, DATA_LEN, crc_data);

	if (stat(MNT "/data", &st1) || stat(MNT "/hardlink", &st2) || st1.st_ino != st2.st_ino ||
	    st1.st_nlink != 2) {
		fail("data and hardlink are no longer one inode with two links (ino %lu/%lu, nlink %lu)",
		     (unsigned long)st1.st_ino, (unsigned long)st2.st_ino, (unsigned long)st1.st_nlink);
		ret = 1;
	} else if (st1.st_mtim.tv_sec != MTIME) {
		fail("data: mtime is %lld, expected %d", (long long)st1.st_mtim.tv_sec, MTIME);
		ret = 1;
	}
	n = readlink(MNT "/sym", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strcmp(buf, "dir/exec")) {
		fail("sym points to \"%s\", expected \"dir/exec\"", buf);
		ret = 1;
	}
	ret |= check_hole();

	r = read(fd, rbuf, sizeof(rbuf));
	if (r != (ssize_t)sizeof(rbuf) || memcmp(rbuf, data + 4096, sizeof(rbuf))) {
		fail("the fd open on data does not read the data at offset 4096 (read %zd)", r);
		ret = 1;
	}
	if (fstat(fd, &st2) || stat(MNT "/data", &st1) || st1.st_ino != st2.st_ino || st1.st_dev != st2.st_dev) {
		fail("the fd open on data is not on the tmpfs's data file");
		ret = 1;
	}

	if (mkfile(MNT "/new", 0600, "n", 1) || stat(MNT "/new", &st1) || stat(mnt, &stm) ||
	    st1.st_dev != stm.st_dev) {
		fail("a file created after restore is not in the tmpfs");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
