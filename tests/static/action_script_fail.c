/*
 * action_script_fail: an action script that fails at pre-dump makes criu
 * refuse the dump cleanly (crfail: the harness checks criu's log says so),
 * before it has touched the tree: the workload runs on, its state intact,
 * and gets its SIGTERM as if nothing happened. The script never gets to a
 * later stage (it fails the first one it sees).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	static char buf[4096];
	int p[2];

	test_init(argc, argv);
	if (pipe(p)) {
		pr_perror("pipe");
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	if (write(p[1], buf, sizeof(buf)) != sizeof(buf)) {
		pr_perror("write");
		return 1;
	}

	test_daemon();
	test_waitsig();

	memset(buf, 0, sizeof(buf));
	if (read(p[0], buf, sizeof(buf)) != sizeof(buf) || buf[0] != 0x5a || buf[sizeof(buf) - 1] != 0x5a)
		fail("the pipe's data did not survive the refused dump");
	else
		pass();
	return 0;
}
