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

static int check_nested(void)
{
	struct nsu_mount o = { 0 }, i = { 0 }, d = { 0 };
	int n1 = nsu_mount_at_rel("outer", &o, NULL), n2 = nsu_mount_at_rel("outer/inner", &i, NULL),
	    n3 = nsu_mount_at_rel("outer/inner/deep", &d, NULL);
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
	if (!nsu_file_is("outer/o", "outer") || !nsu_file_is("outer/inner/i", "inner") ||
	    !nsu_file_is("outer/inner/deep/d", "deep") || !nsu_file_is("deep_src/d", "deep")) {
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
	if (mkdir("outer", 0755) || mkdir("deep_src", 0755) || nsu_put_file("deep_src/d", "deep", 1) ||
	    nsu_tmpfs_at("outer", "zdtm-outer") || nsu_put_file("outer/o", "outer", 1) ||
	    mkdir("outer/inner", 0755) || nsu_tmpfs_at("outer/inner", "zdtm-inner") ||
	    nsu_put_file("outer/inner/i", "inner", 1) || mkdir("outer/inner/deep", 0755)) {
		pr_perror("nested mounts");
		return 1;
	}
	if (nsu_abspath("deep_src", src, sizeof(src)) || nsu_abspath("outer/inner/deep", dst, sizeof(dst)) ||
	    mount(src, dst, NULL, MS_BIND, NULL)) {
		pr_perror("bind deep_src -> outer/inner/deep");
		return 1;
	}

	/* stacked */
	if (mkdir("over", 0755) || nsu_tmpfs_at("over", "zdtm-L1") || nsu_put_file("over/l1", "l1", 1)) {
		pr_perror("L1 at over");
		return 1;
	}
	if (nsu_tmpfs_at("over", "zdtm-L2") || nsu_put_file("over/l2", "l2", 1)) {
		pr_perror("L2 on L1 at over");
		return 1;
	}

	/* hidden */
	if (mkdir("hid", 0755) || nsu_put_file("hid/under", "under", 1)) {
		pr_perror("hid/under");
		return 1;
	}
	if (nsu_tmpfs_at("hid", "zdtm-hid") || nsu_put_file("hid/top", "top", 1)) {
		pr_perror("tmpfs on hid");
		return 1;
	}

	test_daemon();
	test_waitsig();

	ret |= check_nested();

	n = nsu_mount_at_rel("over", &top, &bottom);
	if (n != 2 || top.parent_id != bottom.id || strcmp(top.source, "zdtm-L2") || strcmp(bottom.source, "zdtm-L1")) {
		fail("stacked: %d mounts at over (top %s on %d, bottom %s id %d); expected zdtm-L2 on zdtm-L1", n,
		     n > 0 ? top.source : "-", top.parent_id, n > 0 ? bottom.source : "-", bottom.id);
		ret = 1;
	}
	if (!nsu_file_is("over/l2", "l2") || access("over/l1", F_OK) == 0) {
		fail("stacked: over/ does not show L2 alone");
		ret = 1;
	}
	if (umount2("over", 0)) {
		fail("stacked: umount over (L2)");
		ret = 1;
	} else if (!nsu_file_is("over/l1", "l1") || access("over/l2", F_OK) == 0 ||
		   nsu_mount_at_rel("over", NULL, NULL) != 1) {
		fail("stacked: with L2 unmounted, over/ does not show L1");
		ret = 1;
	}

	if (nsu_mount_at_rel("hid", &top, NULL) != 1 || !nsu_file_is("hid/top", "top") ||
	    access("hid/under", F_OK) == 0) {
		fail("hidden: hid/ does not show the tmpfs alone");
		ret = 1;
	}
	if (umount2("hid", 0)) {
		fail("hidden: umount hid");
		ret = 1;
	} else if (!nsu_file_is("hid/under", "under") || access("hid/top", F_OK) == 0) {
		fail("hidden: with the tmpfs unmounted, hid/ does not show under");
		ret = 1;
	}

	if (!ret)
		pass();
	return ret;
}
