/*
 * irmap00: inotify watches dumped by path through criu's irmap
 * (--force-irmap), the way a migration to another host needs them (a file
 * handle is only good on the same file system).
 *
 * Watches on /etc (IN_OPEN | IN_CLOSE_NOWRITE, a directory: names of the
 * files opened in it) and on /etc/passwd (IN_ACCESS | IN_CLOSE_NOWRITE):
 * /etc is one of irmap's hint dirs, readable here by any uid, and the same
 * in every flavor (ns/uns bind the host's /etc). With --force-irmap, a
 * criu that cannot open a watch's file handle (the owner-dump identity has
 * no CAP_DAC_READ_SEARCH) finds the watched inode's path by scanning those
 * dirs ("Dumping /etc/passwd as path for handle" in the dump log); one that
 * can (root) takes the path from the handle. Either way the image carries
 * the path, and criu restores the watch by opening it.
 *
 * After restore: /proc/self/fdinfo lists the same watches (wd, inode,
 * device, mask), and reading /etc/passwd produces the four events with the
 * original watch descriptors. Anything else reading /etc meanwhile may add
 * events of its own: those are skipped, only ours are required.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "zdtmtst.h"

#define DIR_MASK (IN_OPEN | IN_CLOSE_NOWRITE | IN_ONLYDIR)
#define FILE_MASK (IN_ACCESS | IN_CLOSE_NOWRITE)

/* the "inotify wd:..." lines of the fd's fdinfo, one string */
static char *watches(int fd)
{
	char path[64], line[512], *out = calloc(1, 4096);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f || !out)
		return out;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "inotify wd:", 11)) {
			/* fhandle-bytes..f_handle may legitimately differ: keep wd ino sdev mask */
			char *cut = strstr(line, " ignored_mask:");
			if (cut)
				strcpy(cut, "\n");
			strncat(out, line, 4095 - strlen(out));
		}
	fclose(f);
	return out;
}

/* 1 once all four events of one read of /etc/passwd came, within 5 s */
static int our_events(int fd, int wd_dir, int wd_file)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int seen = 0, want = 0xf;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (seen != want && poll(&p, 1, 5000) == 1) {
		ssize_t len = read(fd, buf, sizeof(buf)), off;

		for (off = 0; len > 0 && off < len;) {
			struct inotify_event *e = (struct inotify_event *)(buf + off);
			int passwd = e->len && !strcmp(e->name, "passwd");

			if (e->wd == wd_dir && passwd && (e->mask & IN_OPEN))
				seen |= 1;
			if (e->wd == wd_dir && passwd && (e->mask & IN_CLOSE_NOWRITE))
				seen |= 2;
			if (e->wd == wd_file && (e->mask & IN_ACCESS))
				seen |= 4;
			if (e->wd == wd_file && (e->mask & IN_CLOSE_NOWRITE))
				seen |= 8;
			off += sizeof(*e) + e->len;
		}
	}
	if (seen != want)
		test_msg("events seen: %#x of %#x", seen, want);
	return seen == want;
}

static int read_passwd(void)
{
	char c;
	int fd = open("/etc/passwd", O_RDONLY);

	if (fd < 0 || read(fd, &c, 1) != 1) {
		pr_perror("reading /etc/passwd");
		return -1;
	}
	return close(fd);
}

int main(int argc, char **argv)
{
	char *before, *after;
	int fd, wd_dir, wd_file;

	test_init(argc, argv);
	fd = inotify_init1(IN_NONBLOCK);
	if (fd < 0) {
		pr_perror("inotify_init1");
		return 1;
	}
	wd_dir = inotify_add_watch(fd, "/etc", DIR_MASK);
	wd_file = inotify_add_watch(fd, "/etc/passwd", FILE_MASK);
	if (wd_dir < 0 || wd_file < 0) {
		pr_perror("inotify_add_watch");
		return 1;
	}
	if (read_passwd() || !our_events(fd, wd_dir, wd_file)) {
		fail("the watches do not work before C/R");
		return 1;
	}
	before = watches(fd);
	test_msg("watches before:\n%s", before);

	test_daemon();
	test_waitsig();

	after = watches(fd);
	errno = 0;
	if (strcmp(before, after))
		fail("the watches changed:\n%s-- became --\n%s", before, after);
	else if (read_passwd() || !our_events(fd, wd_dir, wd_file))
		fail("reading /etc/passwd after restore: not all four events came with the old watch descriptors");
	else
		pass();
	return 0;
}
