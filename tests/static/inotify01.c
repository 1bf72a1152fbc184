/*
 * inotify01: an IN_ONESHOT inotify watch (on a directory, for IN_ATTRIB).
 * After restore the watch must still be one-shot: /proc/self/fdinfo shows
 * IN_ONESHOT in its mask, and of two chmod()s only the first is reported,
 * followed by IN_IGNORED (the watch removed itself).
 *
 * noauto -- a CRIU 4.2 bug: restore_one_inotify() adds each watch with
 * `iwe->mask & IN_ALL_EVENTS`, which drops IN_ONESHOT (and IN_EXCL_UNLINK),
 * so the restored watch fires forever.  (The dump log is fine; the restore
 * log says "filter event mask 0x80000004 -> 0x4".)
 *
 * suid: as inotify00, criu needs open_by_handle_at() to dump the watch.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

/* the mask of the watch with this wd, from fdinfo; 0 if there is none */
static unsigned long watch_mask(int fd, int wd)
{
	char pat[32], *info, *p;
	unsigned long mask = 0;

	snprintf(pat, sizeof(pat), "inotify wd:%x ", wd);
	info = read_fdinfo(fd);
	if (info && (p = strstr(info, pat)) && (p = strstr(p, " mask:")))
		mask = strtoul(p + 6, NULL, 16);
	free(info);
	return mask;
}

/* the masks of the queued events (non-blocking fd), at most max */
static int read_masks(int fd, int wd, uint32_t *masks, int max)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len, off;
	int n = 0;

	while ((len = read(fd, buf, sizeof(buf))) > 0)
		for (off = 0; off < len; n++) {
			struct inotify_event *e = (struct inotify_event *)(buf + off);

			if (n < max)
				masks[n] = e->wd == wd ? e->mask : 0;
			off += sizeof(*e) + e->len;
		}
	errno = 0;
	return n;
}

int main(int argc, char **argv)
{
	unsigned long mask;
	uint32_t masks[8];
	int fd, wd, n, ret = 0;

	test_init(argc, argv);

	if (mkdir(dirname, 0700)) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	fd = inotify_init1(IN_NONBLOCK);
	if (fd < 0) {
		pr_perror("inotify_init1");
		return 1;
	}
	wd = inotify_add_watch(fd, dirname, IN_ATTRIB | IN_ONESHOT);
	if (wd < 0) {
		pr_perror("inotify_add_watch");
		return 1;
	}
	mask = watch_mask(fd, wd);
	if (mask != (IN_ATTRIB | IN_ONESHOT)) {
		pr_err("fdinfo shows mask %#lx for the new watch, expected %#x", mask, IN_ATTRIB | IN_ONESHOT);
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	mask = watch_mask(fd, wd);
	if (mask != (IN_ATTRIB | IN_ONESHOT)) {
		fail("the watch's mask is %#lx after restore, expected %#x (IN_ATTRIB|IN_ONESHOT)", mask,
		     IN_ATTRIB | IN_ONESHOT);
		ret = 1;
	}
	if (chmod(dirname, 0750) || chmod(dirname, 0700)) {
		fail("chmod %s", dirname);
		return 1;
	}
	n = read_masks(fd, wd, masks, 8);
	if (n != 2 || masks[0] != (IN_ATTRIB | IN_ISDIR) || masks[1] != IN_IGNORED) {
		fail("two chmods gave %d events (first masks %#x %#x %#x), expected IN_ATTRIB|IN_ISDIR "
		     "then IN_IGNORED: the watch is no longer one-shot",
		     n, n > 0 ? masks[0] : 0, n > 1 ? masks[1] : 0, n > 2 ? masks[2] : 0);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
