/* Passes, but leaves a helper process running after it exits: the harness
 * must call that a failure and kill the helper. */
#include <signal.h>
#include <unistd.h>
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	pid_t helper;

	test_init(argc, argv);
	test_daemon();
	test_waitsig();
	helper = fork();
	if (helper == 0) {
		signal(SIGTERM, SIG_IGN);
		for (;;)
			pause();
	}
	pass();
	return 0;
}
