/*
 * rtc: an open RTC device (/dev/rtc) with periodic interrupts enabled,
 * dumped and restored by a criu plugin (plugins/rtc.c, flag crlib).
 *
 * criu has no support for RTC devices; the plugin records the periodic
 * interrupt frequency and whether periodic interrupts are on
 * (CR_PLUGIN_HOOK__DUMP_EXT_FILE) and, at restore, opens the device again
 * and re-applies both (CR_PLUGIN_HOOK__RESTORE_EXT_FILE).
 *
 * The workload sets the frequency to 32 Hz (below the default
 * max_user_freq of 64, so no CAP_SYS_RESOURCE is needed) and turns
 * periodic interrupts on.  After restore: RTC_IRQP_READ gives 32 again and
 * the device still ticks: 16 periodic interrupts arrive (read() returns
 * them with RTC_PF set) in a time consistent with 32 Hz.
 *
 * Skips when there is no /dev/rtc (or /dev/rtc0): e.g. the VMs this suite
 * is developed on have none.
 *
 * suid: the RTC device is root-only.
 */
#include <fcntl.h>
#include <linux/rtc.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define FREQ 32
#define TICKS 16

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* wait for n periodic interrupts; returns the seconds it took, -1 on error */
static double ticks(int fd, int n, const char **why)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned long data;
	double t0 = now();
	int got = 0;

	while (got < n) {
		if (poll(&pfd, 1, 2000) != 1) {
			*why = "no interrupt within 2 s";
			return -1;
		}
		if (read(fd, &data, sizeof(data)) != sizeof(data)) {
			*why = "read failed";
			return -1;
		}
		if (!(data & RTC_PF)) {
			*why = "an interrupt that is not a periodic one";
			return -1;
		}
		got += (int)(data >> 8);
	}
	return now() - t0;
}

int main(int argc, char **argv)
{
	const char *why = "";
	unsigned long freq = 0;
	double t;
	int fd;

	test_init(argc, argv);

	fd = open("/dev/rtc", O_RDONLY);
	if (fd < 0 && errno == ENOENT)
		fd = open("/dev/rtc0", O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			skip("no RTC device (/dev/rtc, /dev/rtc0) on this machine");
		if (errno == EBUSY)
			skip("the RTC device is in use by someone else");
		pr_perror("open /dev/rtc");
		return 1;
	}
	if (ioctl(fd, RTC_IRQP_SET, FREQ)) {
		if (errno == ENOTTY || errno == EINVAL)
			skip("the RTC has no periodic interrupt support");
		pr_perror("RTC_IRQP_SET %d", FREQ);
		return 1;
	}
	if (ioctl(fd, RTC_PIE_ON, 0)) {
		pr_perror("RTC_PIE_ON");
		return 1;
	}
	if (ticks(fd, 2, &why) < 0) {
		pr_err("the RTC does not tick before the checkpoint: %s", why);
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (ioctl(fd, RTC_IRQP_READ, &freq) || freq != FREQ) {
		fail("periodic interrupt frequency is %lu, expected %d", freq, FREQ);
		return 1;
	}
	t = ticks(fd, TICKS, &why);
	if (t < 0) {
		fail("the RTC does not tick after restore: %s", why);
		return 1;
	}
	/* 16 ticks at 32 Hz: 0.5 s; allow for a partly elapsed first period and slow VMs */
	if (t < 0.4 * TICKS / FREQ || t > 4.0 * TICKS / FREQ) {
		fail("%d ticks took %.3f s, not consistent with %d Hz", TICKS, t, FREQ);
		return 1;
	}
	ioctl(fd, RTC_PIE_OFF, 0);
	pass();
	return 0;
}
