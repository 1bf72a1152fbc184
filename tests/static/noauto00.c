/*
 * noauto00: a trivial workload that only runs when named explicitly
 * (.desc flags: noauto).  Checks that a word of memory survived.
 */
#include "zdtmtst.h"

static volatile unsigned long magic = 0x5a5aa5a5deadbeefUL;

int main(int argc, char **argv)
{
	test_init(argc, argv);
	test_msg("noauto00: nothing but a word of memory");
	test_daemon();
	test_waitsig();

	if (magic != 0x5a5aa5a5deadbeefUL) {
		fail("magic word changed: %#lx", magic);
		return 1;
	}
	pass();
	return 0;
}
