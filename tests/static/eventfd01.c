/*
 * eventfd01: eventfd state that CRIU 4.2 does not restore (noauto: a
 * known-failing probe, run it by name).
 *  - a counter above 32 bits: criu re-creates the eventfd with
 *    eventfd(counter, ...), whose initval is an unsigned int, so
 *    0x123456789 comes back as 0x23456789;
 *  - EFD_SEMAPHORE: criu does not record semaphore mode (not in the flags
 *    it dumps), so after restore a read returns the whole counter.
 */
#include <sys/eventfd.h>
#include <unistd.h>

#include "zdtmtst.h"

#define BIG 0x123456789ULL

int main(int argc, char **argv)
{
	uint64_t v;
	int big, sem, ret = 0;

	test_init(argc, argv);

	big = eventfd(0, EFD_NONBLOCK);
	sem = eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE);
	if (big < 0 || sem < 0) {
		pr_perror("eventfd");
		return 1;
	}
	v = BIG;
	if (write(big, &v, sizeof(v)) != sizeof(v)) {
		pr_perror("write");
		return 1;
	}
	v = 2;
	if (write(sem, &v, sizeof(v)) != sizeof(v)) {
		pr_perror("write");
		return 1;
	}

	test_daemon();
	test_waitsig();

	if (read(big, &v, sizeof(v)) != sizeof(v) || v != BIG) {
		fail("64-bit counter: read %#llx, expected %#llx", (unsigned long long)v, BIG);
		ret = 1;
	}
	if (read(sem, &v, sizeof(v)) != sizeof(v) || v != 1) {
		fail("semaphore mode lost: read %llu, expected 1", (unsigned long long)v);
		ret = 1;
	} else if (read(sem, &v, sizeof(v)) != sizeof(v) || v != 1) {
		fail("semaphore: second read %llu, expected 1", (unsigned long long)v);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
