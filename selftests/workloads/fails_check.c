/* Survives C/R, then its own check after SIGTERM fails: the harness must
 * report phase 'verify' with this FAIL line. */
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	int expected = 42, found = 41;

	test_init(argc, argv);
	test_daemon();
	test_waitsig();
	fail("counter is %d after restore, expected %d", found, expected);
	return 0;
}
