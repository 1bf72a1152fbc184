/* Changes its umask when it gets SIGUSR1: lets a self-test make a real
 * state change between the harness's look before the dump and the dump. */
#include <signal.h>
#include <sys/stat.h>
#include "zdtmtst.h"

static void on_usr1(int sig)
{
	umask(0077);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	umask(0022);
	signal(SIGUSR1, on_usr1);
	test_daemon();
	test_waitsig();
	pass();
	return 0;
}
