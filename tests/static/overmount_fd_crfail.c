/*
 * overmount_fd_crfail: an open file on a mount that another mount covers
 * (suid: mount(2) in the test's own mount namespace; flavors ns/uns only).
 *
 * A tmpfs L1 is mounted at over/ and file l1 created in it and kept open;
 * then a tmpfs L2 is mounted on the same over/, covering L1.  criu cannot
 * reopen a file on a mount that is not reachable by any path on restore
 * and must refuse the dump ("Open files on overmounted mounts are not
 * supported yet").  After the refused dump the test checks that nothing
 * changed: the fd still reads l1 at its offset, over/ shows L2 (l2, not
 * l1) with two mounts stacked there, and after umount of over/ L1 is back
 * with l1.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nsutil.h"
#include "zdtmtst.h"

static const char l1_data[] = "file l1 on the covered tmpfs";

int main(int argc, char **argv)
{
	char over[PATH_MAX], buf[64] = "";
	struct nsu_mount top, bottom;
	int fd, n, ret = 0;

	test_init(argc, argv);

	if (nsu_abspath("over", over, sizeof(over)) || mkdir(over, 0755) ||
	    mount("zdtm-L1", over, "tmpfs", 0, "size=1m") || nsu_put_file("over/l1", l1_data, 1)) {
		pr_perror("L1 at over");
		return 1;
	}
	fd = open("over/l1", O_RDONLY);
	if (fd < 0 || lseek(fd, 5, SEEK_SET) != 5) {
		pr_perror("open over/l1");
		return 1;
	}
	if (mount("zdtm-L2", over, "tmpfs", 0, "size=1m") || nsu_put_file("over/l2", "l2", 1)) {
		pr_perror("L2 on L1 at over");
		return 1;
	}

	test_daemon();
	test_waitsig();

	n = read(fd, buf, sizeof(buf) - 1);
	if (n != (int)strlen(l1_data) - 5 || strcmp(buf, l1_data + 5)) {
		fail("the fd on over/l1 read \"%s\" from offset 5", buf);
		ret = 1;
	}
	n = nsu_mount_at(over, &top, &bottom);
	if (n != 2 || strcmp(top.source, "zdtm-L2") || strcmp(bottom.source, "zdtm-L1") ||
	    access("over/l2", F_OK) || access("over/l1", F_OK) == 0) {
		fail("over/ is no longer L2 on L1 (%d mounts there)", n);
		ret = 1;
	}
	if (umount2(over, 0) || access("over/l1", F_OK) || access("over/l2", F_OK) == 0) {
		fail("after umount of L2, over/ does not show L1");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
