/*
 * fanotify00: fanotify groups and their marks.
 *  - group 1 (FAN_CLASS_NOTIF, non-blocking, close-on-exec, events opened
 *    O_RDONLY): an inode mark on a directory for FAN_OPEN|FAN_CLOSE_WRITE on
 *    its children (FAN_EVENT_ON_CHILD), and an ignore mark on one file in it
 *    (ignored mask FAN_OPEN, FAN_MARK_IGNORED_SURV_MODIFY);
 *  - group 2 (FAN_CLASS_NOTIF, FAN_UNLIMITED_QUEUE, blocking, events opened
 *    O_RDWR): an inode mark on another file for FAN_MODIFY.
 * After restore: /proc/self/fdinfo shows the same groups (flags,
 * event-flags) and marks (inode, mflags, mask, ignored mask, handle), and
 * the marks work: opening and writing a file in the directory gives
 * FAN_OPEN then FAN_CLOSE_WRITE with an fd for that file, opening the
 * ignored file gives nothing, writing the other file gives group 2 a
 * FAN_MODIFY with an O_RDWR fd.
 *
 * suid: fanotify_init() needs CAP_SYS_ADMIN -- in the initial user
 * namespace for these (FID-less, unlimited-queue) groups, hence no uns
 * flavor.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zdtmtst.h"

char *dirname;
TEST_OPTION(dirname, string, "directory name", 1);

#define DIR_MASK (FAN_OPEN | FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD)

struct fev {
	uint64_t mask;
	char path[PATH_MAX];
	int flags;
};

/* our own events (pid == us) from a group, non-blocking; others are logged */
static int read_events(int fan, struct fev *evs, int max)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	struct fanotify_event_metadata *m;
	int n = 0, fl = fcntl(fan, F_GETFL);
	ssize_t len;

	fcntl(fan, F_SETFL, fl | O_NONBLOCK);
	while ((len = read(fan, buf, sizeof(buf))) > 0) {
		for (m = (void *)buf; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			char link[64], path[PATH_MAX] = "";
			ssize_t l;

			if (m->fd >= 0) {
				snprintf(link, sizeof(link), "/proc/self/fd/%d", m->fd);
				l = readlink(link, path, sizeof(path) - 1);
				path[l > 0 ? l : 0] = '\0';
			}
			if (m->pid != getpid()) {
				test_msg("event from pid %d: mask %#llx %s (ignored)", m->pid,
					 (unsigned long long)m->mask, path);
			} else if (n < max) {
				evs[n].mask = m->mask;
				strcpy(evs[n].path, path);
				evs[n].flags = m->fd >= 0 ? fcntl(m->fd, F_GETFL) : -1;
				n++;
			} else {
				n++;
			}
			if (m->fd >= 0)
				close(m->fd);
		}
	}
	fcntl(fan, F_SETFL, fl);
	errno = 0;
	return n;
}

int main(int argc, char **argv)
{
	char abs[PATH_MAX], file_a[PATH_MAX + 16], quiet[PATH_MAX + 16], other[PATH_MAX + 16];
	char *g1_before, *g2_before, *g1, *g2;
	struct fev evs[8];
	int g1fd, g2fd, fd, n, i, ret = 0;
	uint64_t mask;

	test_init(argc, argv);

	if (mkdir(dirname, 0700) || !realpath(dirname, abs)) {
		pr_perror("mkdir %s", dirname);
		return 1;
	}
	snprintf(file_a, sizeof(file_a), "%s/a", abs);
	snprintf(quiet, sizeof(quiet), "%s/quiet", abs);
	snprintf(other, sizeof(other), "%s.other", abs);
	if ((fd = open(quiet, O_CREAT | O_WRONLY, 0600)) < 0 || close(fd) ||
	    (fd = open(other, O_CREAT | O_WRONLY, 0600)) < 0 || close(fd)) {
		pr_perror("create files");
		return 1;
	}
	g1fd = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE);
	if (g1fd < 0) {
		if (errno == ENOSYS)
			skip("no fanotify in this kernel");
		pr_perror("fanotify_init");
		return 1;
	}
	g2fd = fanotify_init(FAN_CLASS_NOTIF | FAN_UNLIMITED_QUEUE, O_RDWR | O_LARGEFILE);
	if (g2fd < 0) {
		pr_perror("fanotify_init 2");
		return 1;
	}
	if (fanotify_mark(g1fd, FAN_MARK_ADD | FAN_MARK_ONLYDIR, DIR_MASK, AT_FDCWD, abs) ||
	    fanotify_mark(g1fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_OPEN,
			  AT_FDCWD, quiet) ||
	    fanotify_mark(g2fd, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, other)) {
		pr_perror("fanotify_mark");
		return 1;
	}
	read_events(g1fd, evs, 8);
	read_events(g2fd, evs, 8);
	g1_before = fdinfo_lines(g1fd, "fanotify ");
	g2_before = fdinfo_lines(g2fd, "fanotify ");
	if (!g1_before || !g2_before || !strstr(g1_before, "ino:") || !strstr(g2_before, "ino:")) {
		pr_err("no marks in the fanotify fdinfo");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	g1 = fdinfo_lines(g1fd, "fanotify ");
	g2 = fdinfo_lines(g2fd, "fanotify ");
	if (!g1 || strcmp(g1, g1_before)) {
		fail("group 1 changed:\nbefore:\n%safter:\n%s", g1_before, g1 ? g1 : "?\n");
		ret = 1;
	}
	if (!g2 || strcmp(g2, g2_before)) {
		fail("group 2 changed:\nbefore:\n%safter:\n%s", g2_before, g2 ? g2 : "?\n");
		ret = 1;
	}
	if (!(fcntl(g1fd, F_GETFL) & O_NONBLOCK) || !(fcntl(g1fd, F_GETFD) & FD_CLOEXEC) ||
	    (fcntl(g2fd, F_GETFL) & O_NONBLOCK)) {
		fail("flags of the fanotify fds changed");
		ret = 1;
	}
	n = read_events(g1fd, evs, 8) + read_events(g2fd, evs, 8);
	if (n) {
		fail("%d events of ours were queued across the checkpoint", n);
		ret = 1;
	}

	/* the marks at work */
	fd = open(file_a, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || write(fd, "a", 1) != 1 || close(fd)) {
		fail("write %s", file_a);
		return 1;
	}
	fd = open(quiet, O_RDONLY);
	if (fd < 0 || close(fd)) {
		fail("open %s", quiet);
		return 1;
	}
	/* the kernel may merge the two events of one file into one */
	n = read_events(g1fd, evs, 8);
	for (i = 0, mask = 0; i < n && i < 8; i++) {
		test_msg("group 1: event %#llx %s", (unsigned long long)evs[i].mask, evs[i].path);
		if (strcmp(evs[i].path, file_a)) {
			fail("group 1: event %#llx for %s, expected only %s", (unsigned long long)evs[i].mask,
			     evs[i].path, file_a);
			ret = 1;
		} else if ((evs[i].flags & O_ACCMODE) != O_RDONLY) {
			fail("group 1: event fd opened with flags %#x, expected O_RDONLY", evs[i].flags);
			ret = 1;
		}
		mask |= evs[i].mask;
	}
	if (n < 1 || n > 2 || mask != (FAN_OPEN | FAN_CLOSE_WRITE)) {
		fail("group 1: %d events with masks %#llx, expected FAN_OPEN and FAN_CLOSE_WRITE for %s", n,
		     (unsigned long long)mask, file_a);
		ret = 1;
	}
	fd = open(other, O_WRONLY);
	if (fd < 0 || write(fd, "o", 1) != 1 || close(fd)) {
		fail("write %s", other);
		return 1;
	}
	n = read_events(g2fd, evs, 8);
	if (n != 1 || evs[0].mask != FAN_MODIFY || strcmp(evs[0].path, other) ||
	    (evs[0].flags & O_ACCMODE) != O_RDWR) {
		fail("group 2: %d events (%#llx %s flags %#x), expected FAN_MODIFY for %s with an O_RDWR fd", n,
		     n > 0 ? (unsigned long long)evs[0].mask : 0ULL, n > 0 ? evs[0].path : "",
		     n > 0 ? evs[0].flags : 0, other);
		ret = 1;
	}
	if (read_events(g1fd, evs, 8)) {
		fail("group 1 got events for %s", other);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
