/*
 * chardev_crfail: an open character device that criu has no dumper for.
 * criu handles memory devices (/dev/null, /dev/kmsg...), ttys and two misc
 * devices (tun, autofs); it refuses the others ("Can't dump file N of that
 * type [20...] (chr MAJ:MIN)").  The test opens the first misc device of
 * /dev/kvm, /dev/fuse, /dev/loop-control, /dev/btrfs-control it can, and
 * skips if there is none (a root with only a minimal /dev).
 * After the refused dump the fd must be untouched: the same device
 * (rdev), path and flags; for /dev/kvm the device still answers
 * KVM_GET_API_VERSION.
 *
 * suid: every character device here that criu refuses is root-only (mode
 * 0600); the one misc device a user can open, /dev/autofs, criu dumps as a
 * plain file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "zdtmtst.h"

#ifndef KVM_GET_API_VERSION
#define KVM_GET_API_VERSION _IO(0xAE, 0x00)
#endif

static const char *const candidates[] = { "/dev/kvm", "/dev/fuse", "/dev/loop-control", "/dev/btrfs-control" };

int main(int argc, char **argv)
{
	char proc[64], link[256];
	struct stat before, st;
	const char *dev = NULL;
	int fd = -1, fl, api = -1, ret = 0;
	unsigned i;
	ssize_t n;

	test_init(argc, argv);

	for (i = 0; i < ARRAY_SIZE(candidates) && fd < 0; i++) {
		fd = open(candidates[i], O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			dev = candidates[i];
		else
			test_msg("%s: %s", candidates[i], strerror(errno));
	}
	if (fd < 0)
		skip("no character device criu refuses can be opened here (/dev/kvm, /dev/fuse, ...)");
	if (fstat(fd, &before) || !S_ISCHR(before.st_mode)) {
		pr_perror("fstat %s", dev);
		return 1;
	}
	if (!strcmp(dev, "/dev/kvm"))
		api = ioctl(fd, KVM_GET_API_VERSION, 0);
	test_msg("holding %s (char %u:%u)", dev, major(before.st_rdev), minor(before.st_rdev));

	test_daemon();
	test_waitsig();
	errno = 0;

	if (fstat(fd, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != before.st_rdev) {
		fail("the fd is no longer %s (mode %#o rdev %u:%u)", dev, st.st_mode, major(st.st_rdev),
		     minor(st.st_rdev));
		ret = 1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	if (strcmp(link, dev)) {
		fail("the fd now points to \"%s\", expected %s", link, dev);
		ret = 1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY || !(fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
		fail("the fd's flags changed (%#x)", fl);
		ret = 1;
	}
	if (api >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) != api) {
		fail("KVM_GET_API_VERSION no longer answers %d", api);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
