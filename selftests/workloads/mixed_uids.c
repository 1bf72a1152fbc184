/*
 * A root (suid) workload with a child that switched to another uid: root's
 * criu must read that child's rlimits, which takes CAP_SYS_RESOURCE.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	pid_t child;
	int status;

	test_init(argc, argv);
	child = fork();
	if (child == 0) {
		if (setgid(58467) || setuid(18943))
			_exit(1);
		while (1)
			pause();
	}
	if (child < 0) {
		pr_perror("fork");
		return 1;
	}
	test_daemon();
	test_waitsig();
	kill(child, SIGKILL);
	if (waitpid(child, &status, 0) != child || !WIFSIGNALED(status)) {
		fail("the child of uid 18943 did not survive to the end (status %#x)", status);
		return 1;
	}
	pass();
	return 0;
}
