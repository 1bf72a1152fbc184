/* Takes a second and a half to become ready: holds a worker for a while. */
#include <unistd.h>
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	usleep(1500 * 1000);
	test_daemon();
	test_waitsig();
	pass();
	return 0;
}
