/* Does nothing but speak the protocol: ready, wait for SIGTERM, PASS. */
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	test_daemon();
	test_waitsig();
	pass();
	return 0;
}
