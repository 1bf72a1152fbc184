/*
 * criu plugin for rtc: dumps and restores an open RTC character device
 * with its periodic interrupt settings.
 *
 * DUMP_EXT_FILE(fd, id): if fd is a device of the "rtc" class (checked
 * through /sys/dev/char/<major>:<minor>/subsystem), save its name (rtcN),
 * the periodic interrupt frequency (RTC_IRQP_READ), whether periodic
 * interrupts are enabled and the file status flags into "rtc-<id>.img" in
 * the images directory; anything else: -ENOTSUP (not ours).
 *
 * Periodic interrupts have no "is it on" ioctl: the state is read from
 * /proc/driver/rtc ("periodic IRQ enabled") when that file describes this
 * device (it describes rtc0); otherwise they are assumed on (a task that
 * sets a frequency on an open RTC normally wants them).
 *
 * RESTORE_EXT_FILE(id): no such image file: -ENOTSUP; else open /dev/rtcN
 * (the RTC is opened exclusively; the dumped task, its previous holder, is
 * gone by now), set the frequency, turn periodic interrupts on if they
 * were, and return the fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/rtc.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "criu-plugin.h"

#define MAGIC 0x7a647263U

struct saved {
	uint32_t magic;
	char name[32];		/* rtcN */
	unsigned long freq;
	int32_t pie;
	int32_t flags;
};

static void img_name(char *buf, size_t len, int id)
{
	snprintf(buf, len, "rtc-%#x.img", (unsigned)id);
}

/* "rtcN" if the char device is of class rtc, else -1 */
static int rtc_name(dev_t rdev, char *name, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX], *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/subsystem", major(rdev), minor(rdev));
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -1;
	link[n] = '\0';
	base = strrchr(link, '/');
	if (!base || strcmp(base + 1, "rtc"))
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u", major(rdev), minor(rdev));
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -1;
	link[n] = '\0';
	base = strrchr(link, '/');
	if (!base || strlen(base + 1) >= len)
		return -1;
	strcpy(name, base + 1);
	return 0;
}

/* 1/0 from /proc/driver/rtc if it describes rtc0 and name is rtc0, else -1 */
static int pie_enabled(const char *name)
{
	char line[256];
	int ret = -1;
	FILE *f;

	if (strcmp(name, "rtc0"))
		return -1;
	f = fopen("/proc/driver/rtc", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "periodic IRQ enabled", 20)) {
			ret = strstr(line, "yes") != NULL;
			break;
		}
	fclose(f);
	return ret;
}

static int dump_ext_file(int fd, int id)
{
	struct saved s = { .magic = MAGIC };
	struct stat st;
	char img[64];
	int out, fl;

	if (fstat(fd, &st) || !S_ISCHR(st.st_mode) || rtc_name(st.st_rdev, s.name, sizeof(s.name)))
		return -ENOTSUP;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ioctl(fd, RTC_IRQP_READ, &s.freq)) {
		fprintf(stderr, "rtc plugin: can't read the settings of %s (%#x): %m\n", s.name, id);
		return -1;
	}
	s.pie = pie_enabled(s.name);
	if (s.pie < 0)
		s.pie = 1;
	s.flags = fl;
	img_name(img, sizeof(img), id);
	out = openat(criu_get_image_dir(), img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0 || write(out, &s, sizeof(s)) != sizeof(s)) {
		fprintf(stderr, "rtc plugin: can't write %s: %m\n", img);
		if (out >= 0)
			close(out);
		return -1;
	}
	close(out);
	fprintf(stderr, "rtc plugin: dumped %#x: %s at %lu Hz, periodic irq %s\n", id, s.name, s.freq,
		s.pie ? "on" : "off");
	return 0;
}

static int restore_ext_file(int id)
{
	struct saved s;
	char img[64], path[64];
	int in, fd;

	img_name(img, sizeof(img), id);
	in = openat(criu_get_image_dir(), img, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? -ENOTSUP : -1;
	if (read(in, &s, sizeof(s)) != sizeof(s) || s.magic != MAGIC || !memchr(s.name, 0, sizeof(s.name))) {
		fprintf(stderr, "rtc plugin: %s is corrupted\n", img);
		close(in);
		return -1;
	}
	close(in);
	snprintf(path, sizeof(path), "/dev/%s", s.name);
	fd = open(path, s.flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY));
	if (fd < 0 && errno == ENOENT && !strcmp(s.name, "rtc0"))
		fd = open("/dev/rtc", s.flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY));
	if (fd < 0) {
		fprintf(stderr, "rtc plugin: can't open %s: %m\n", path);
		return -1;
	}
	if (ioctl(fd, RTC_IRQP_SET, s.freq) || (s.pie && ioctl(fd, RTC_PIE_ON, 0))) {
		fprintf(stderr, "rtc plugin: can't re-apply %lu Hz / periodic irq on %s: %m\n", s.freq, path);
		close(fd);
		return -1;
	}
	fprintf(stderr, "rtc plugin: restored %#x: %s at %lu Hz\n", id, path, s.freq);
	return fd;
}

CR_PLUGIN_REGISTER_DUMMY("zdtm_rtc")
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, dump_ext_file)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, restore_ext_file)
