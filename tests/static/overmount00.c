/*
 * overmount00: nested mounts, a mount point with two mounts stacked on it,
 * and a directory hidden under a mount, in the test's own mount namespace
 * (mount(2): suid; flavors ns/uns only).
 *
 *  nested: tmpfs at outer/, a tmpfs at outer/inner/ inside it, and at
 *     outer/inner/deep/ a bind of the work dir's deep_src/; each level
 *     holds a file.
 *  stacked: tmpfs L1 at over/ with file l1, then tmpfs L2 mounted on the
 *     same over/ (covering L1) with file l2.
 *  hidden: the work dir's hid/ holds file under; a tmpfs is mounted on hid/
 *     with file top.
 * After restore:
 *  - nested: outer, outer/inner, outer/inner/deep are one mount each, each
 *    the child of the one above (mountinfo parent ids), the first two
 *    tmpfs, the third a bind of deep_src; each level's file is there;
 *  - stacked: two mounts at over/, L2 on L1: over/ shows l2 and not l1;
 *    after umount of over/ the directory shows L1 (l1, not l2), one mount
 *    left;
 *  - hidden: hid/ shows top, not under; after umount of hid/ the directory
 *    shows under again.
 * No fd is kept on a covered file: criu refuses files on an overmounted
 * mount (see overmount_fd_crfail), and a file whose path is hidden by a
 * mount looks unlinked to it (it asks for --link-remap, which then fails
 * with EXDEV: the remap link would have to cross the covering mount).
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

static int put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

static int is(const char *path, const char *s)
{
	char buf[128] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n == (ssize_t)strlen(s) && !memcmp(buf, s, n);
}

static int tmpfs_at(const char *rel, const char *name)
{
	char path[PATH_MAX];

	if (nsu_abspath(rel, path, sizeof(path)))
		return -1;
	return mount(name, path, "tmpfs", 0, "size=1m");
}

/* the mounts at rel: count, *top filled */
static int mounts_at(const char *rel, struct nsu_mount *top, struct nsu_mount *bottom)
{
	char path[PATH_MAX];

	if (nsu_abspath(rel, path, sizeof(path)))
		return -1;
	return nsu_mount_at(path, top, bottom);
}

static int check_nested(void)
{
	struct nsu_mount o = { 0 }, i = { 0 }, d = { 0 };
	int n1 = mounts_at("outer", &o, NULL), n2 = mounts_at("outer/inner", &i, NULL),
	    n3 = mounts_at("outer/inner/deep", &d, NULL);
	size_t l;

	if (n1 != 1 || n2 != 1 || n3 != 1) {
		fail("nested: %d, %d, %d mounts at outer, outer/inner, outer/inner/deep; expected 1 each", n1, n2, n3);
		return 1;
	}
	if (i.parent_id != o.id || d.parent_id != i.id) {
		fail("nested: the mounts are no longer nested (ids %d %d %d, parents %d %d %d)", o.id, i.id, d.id,
		     o.parent_id, i.parent_id, d.parent_id);
		return 1;
	}
	l = strlen(d.root);
	if (strcmp(o.fstype, "tmpfs") || strcmp(i.fstype, "tmpfs") || l < 9 || strcmp(d.root + l - 9, "/deep_src")) {
		fail("nested: types %s, %s and the third mount's root %s; expected tmpfs, tmpfs, .../deep_src",
		     o.fstype, i.fstype, d.root);
		return 1;
	}
	if (!is("outer/o", "outer") || !is("outer/inner/i", "inner") || !is("outer/inner/deep/d", "deep") ||
	    !is("deep_src/d", "deep")) {
		fail("nested: a level's file is missing");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct nsu_mount top = { 0 }, bottom = { 0 };
	char src[PATH_MAX], dst[PATH_MAX];
	int n, ret = 0;

	test_init(argc, argv);

	/* nested */
	if (mkdir("outer", 0755) || mkdir("deep_src", 0755) || put("deep_src/d", "deep") ||
	    tmpfs_at("outer", "zdtm-outer") || put("outer/o", "outer") || mkdir("outer/inner", 0755) ||
	    tmpfs_at("outer/inner", "zdtm-inner") || put("outer/inner/i", "inner") ||
	    mkdir("outer/inner/deep", 0755)) {
		pr_perror("nested mounts");
		return 1;
	}
	if (nsu_abspath("deep_src", src, sizeof(src)) || nsu_abspath("outer/inner/deep", dst, sizeof(dst)) ||
	    mount(src, dst, NULL, MS_BIND, NULL)) {
		pr_perror("bind deep_src -> outer/inner/deep");
		return 1;
	}

	/* stacked */
	if (mkdir("over", 0755) || tmpfs_at("over", "zdtm-L1") || put("over/l1", "l1")) {
		pr_perror("L1 at over");
		return 1;
	}
	if (tmpfs_at("over", "zdtm-L2") || put("over/l2", "l2")) {
		pr_perror("L2 on L1 at over");
		return 1;
	}

	/* hidden */
	if (mkdir("hid", 0755) || put("hid/under", "under")) {
		pr_perror("hid/under");
		return 1;
	}
	if (tmpfs_at("hid", "zdtm-hid") || put("hid/top", "top")) {
		pr_perror("tmpfs on hid");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_nested();

	n = mounts_at("over", &top, &bottom);
	if (n != 2 || top.parent_id != bottom.id || strcmp(top.source, "zdtm-L2") || strcmp(bottom.source, "zdtm-L1")) {
		fail("stacked: %d mounts at over (top %s on %d, bottom %s id %d); expected zdtm-L2 on zdtm-L1", n,
		     n > 0 ? top.source : "-", top.parent_id, n > 0 ? bottom.source : "-", bottom.id);
		ret = 1;
	}
	if (!is("over/l2", "l2") || access("over/l1", F_OK) == 0) {
		fail("stacked: over/ does not show L2 alone");
		ret = 1;
	}
	if (umount2("over", 0)) {
		fail("stacked: umount over (L2)");
		ret = 1;
	} else if (!is("over/l1", "l1") || access("over/l2", F_OK) == 0 || mounts_at("over", NULL, NULL) != 1) {
		fail("stacked: with L2 unmounted, over/ does not show L1");
		ret = 1;
	}

	if (mounts_at("hid", &top, NULL) != 1 || !is("hid/top", "top") || access("hid/under", F_OK) == 0) {
		fail("hidden: hid/ does not show the tmpfs alone");
		ret = 1;
	}
	if (umount2("hid", 0)) {
		fail("hidden: umount hid");
		ret = 1;
	} else if (!is("hid/under", "under") || access("hid/top", F_OK) == 0) {
		fail("hidden: with the tmpfs unmounted, hid/ does not show under");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
