/*
 * inotify00: inotify instances with watches.
 *  - instance A (non-blocking): a watch on a directory
 *    (IN_CREATE|IN_DELETE|IN_MOVED_TO|IN_ONLYDIR) and one on a file in it
 *    (IN_MODIFY|IN_CLOSE_WRITE|IN_ATTRIB);
 *  - instance B (blocking, close-on-exec): a watch on the same directory
 *    for IN_ATTRIB|IN_DELETE_SELF.
 * An IN_CREATE event is queued on A before the checkpoint.
 * After restore: /proc/self/fdinfo shows the same watches (wd, inode, mask,
 * ignored mask, file handle) for both instances, and the watches work: new
 * events arrive with the original watch descriptors, each instance gets
 * only the events its masks ask for.  (IN_ONESHOT is in inotify01: CRIU
 * 4.2 loses it.)
 *
 * Queued events: CRIU 4.2 drops them ("The 0x... inotify events will be
 * dropped" in the dump log), so after restore A's queue may hold either
 * the event from before the checkpoint or nothing -- but nothing else
 * (no spurious events from the restore itself).
 *
 * suid: criu must turn each watch's file handle back into a path at dump
 * time.  That needs open_by_handle_at() (CAP_DAC_READ_SEARCH); an
 * unprivileged criu (the owner-dump identity) falls back to scanning a few
 * fixed system directories ("irmap") and refuses with "Can't dump that
 * handle" for a watch in the test's work directory.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

#define MASK_DIR (IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_ONLYDIR)
#define MASK_FILE (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB)
#define MASK_B (IN_ATTRIB | IN_DELETE_SELF)

struct ev {
	int wd;
	uint32_t mask;
	char name[NAME_MAX + 1];
};

/* read the queued events (non-blocking), at most max */
static int read_events(int fd, struct ev *evs, int max)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int n = 0, fl = fcntl(fd, F_GETFL);
	ssize_t len, off;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while ((len = read(fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < len;) {
			struct inotify_event *e = (struct inotify_event *)(buf + off);

			if (n < max) {
				evs[n].wd = e->wd;
				evs[n].mask = e->mask;
				snprintf(evs[n].name, sizeof(evs[n].name), "%s", e->len ? e->name : "");
			}
			n++;
			off += sizeof(*e) + e->len;
		}
	}
	fcntl(fd, F_SETFL, fl);
	errno = 0;
	return n;
}

static int expect(int fd, const char *what, int nexp, const struct ev *exp)
{
	struct ev evs[16];
	int n, i, ret = 0;

	n = read_events(fd, evs, 16);
	for (i = 0; i < n && i < 16; i++)
		test_msg("%s: event wd %d mask %#x name \"%s\"", what, evs[i].wd, evs[i].mask, evs[i].name);
	if (n != nexp) {
		fail("%s: %d events, expected %d", what, n, nexp);
		return 1;
	}
	for (i = 0; i < n; i++)
		if (evs[i].wd != exp[i].wd || evs[i].mask != exp[i].mask || strcmp(evs[i].name, exp[i].name)) {
			fail("%s: event %d is wd %d mask %#x \"%s\", expected wd %d mask %#x \"%s\"", what, i,
			     evs[i].wd, evs[i].mask, evs[i].name, exp[i].wd, exp[i].mask, exp[i].name);
			ret = 1;
		}
	return ret;
}

int main(int argc, char **argv)
{
	char file[PATH_MAX], path[PATH_MAX], *wa_before, *wb_before, *wa, *wb;
	int a, b, wd_dir, wd_file, wd_b, fd, ret = 0;

	test_init(argc, argv);

	snprintf(file, sizeof(file), "%s/watched", dirname);
	if (mkdir(dirname, 0700)) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || close(fd)) {
		pr_perror("create %s", file);
		return 1;
	}
	a = inotify_init1(IN_NONBLOCK);
	b = inotify_init1(IN_CLOEXEC);
	if (a < 0 || b < 0) {
		pr_perror("inotify_init1");
		return 1;
	}
	wd_dir = inotify_add_watch(a, dirname, MASK_DIR);
	wd_file = inotify_add_watch(a, file, MASK_FILE);
	wd_b = inotify_add_watch(b, dirname, MASK_B);
	if (wd_dir < 0 || wd_file < 0 || wd_b < 0) {
		pr_perror("inotify_add_watch");
		return 1;
	}
	/* an event queued across the checkpoint */
	snprintf(path, sizeof(path), "%s/before", dirname);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || close(fd)) {
		pr_perror("create %s", path);
		return 1;
	}
	wa_before = fdinfo_lines(a, "inotify wd:");
	wb_before = fdinfo_lines(b, "inotify wd:");
	if (!wa_before || !wb_before || !*wa_before || !*wb_before) {
		pr_err("no watches in /proc/self/fdinfo");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	wa = fdinfo_lines(a, "inotify wd:");
	wb = fdinfo_lines(b, "inotify wd:");
	if (!wa || strcmp(wa, wa_before)) {
		fail("watches of instance A changed:\nbefore:\n%safter:\n%s", wa_before, wa ? wa : "?\n");
		ret = 1;
	}
	if (!wb || strcmp(wb, wb_before)) {
		fail("watches of instance B changed:\nbefore:\n%safter:\n%s", wb_before, wb ? wb : "?\n");
		ret = 1;
	}
	if (!(fcntl(a, F_GETFL) & O_NONBLOCK) || (fcntl(b, F_GETFL) & O_NONBLOCK) ||
	    !(fcntl(b, F_GETFD) & FD_CLOEXEC)) {
		fail("flags of the inotify fds changed (A %#x, B %#x)", fcntl(a, F_GETFL), fcntl(b, F_GETFL));
		ret = 1;
	}

	{
		struct ev evs[4];
		int n = read_events(a, evs, 4);

		if (n == 0) {
			test_msg("the event queued before the checkpoint was dropped (as CRIU 4.2 does)");
		} else if (n == 1 && evs[0].wd == wd_dir && evs[0].mask == IN_CREATE &&
			   !strcmp(evs[0].name, "before")) {
			test_msg("the event queued before the checkpoint was kept");
		} else {
			fail("A holds %d unexpected events after restore (first: wd %d mask %#x \"%s\")", n,
			     evs[0].wd, evs[0].mask, evs[0].name);
			ret = 1;
		}
	}
	ret |= expect(b, "B, queued before the checkpoint", 0, NULL);

	/* the watches work, with their original descriptors */
	snprintf(path, sizeof(path), "%s/after", dirname);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || close(fd) || unlink(path)) {
		fail("create/unlink %s", path);
		return 1;
	}
	fd = open(file, O_WRONLY);
	if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) || chmod(dirname, 0750)) {
		fail("write %s / chmod %s", file, dirname);
		return 1;
	}
	{
		struct ev exp[] = {
			{ wd_dir, IN_CREATE, "after" },
			{ wd_dir, IN_DELETE, "after" },
			{ wd_file, IN_MODIFY, "" },
			{ wd_file, IN_CLOSE_WRITE, "" },
		};

		ret |= expect(a, "A, after restore", 4, exp);
	}
	{
		struct ev exp[] = { { wd_b, IN_ATTRIB | IN_ISDIR, "" } };

		ret |= expect(b, "B, after restore", 1, exp);
	}
	if (!ret)
		pass();
	return ret;
}
