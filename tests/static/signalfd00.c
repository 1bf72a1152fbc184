/*
 * signalfd00: signalfds and the pending signals they read.
 *  - sfd1 (SFD_NONBLOCK): mask {SIGUSR1, SIGRTMIN+3};
 *  - sfd2 (SFD_CLOEXEC): mask {SIGUSR2}.
 * All three signals are blocked.  Pending before the checkpoint:
 *  - SIGUSR1 for the process, sent with sigqueue() and a value;
 *  - SIGRTMIN+3 for the process, queued twice with two values (real-time
 *    signals queue, in order);
 *  - SIGUSR2 for the thread (tgkill).
 * After restore: fdinfo shows the same masks; the signal mask of the
 * thread is unchanged; sfd1 reads SIGUSR1 with its value, then the two
 * SIGRTMIN+3 in order with theirs (ssi_code SI_QUEUE, ssi_pid/ssi_uid us),
 * sfd2 reads SIGUSR2 (SI_TKILL); then both are empty, and a new signal is
 * read through them too.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zdtmtst.h"

#define RTSIG (SIGRTMIN + 3)
#define V_USR1 0x1234567
#define V_RT1 11
#define V_RT2 22

static char *sigmask_line(int fd)
{
	char *info, *p, *e;

	info = read_fdinfo(fd);
	if (!info || !(p = strstr(info, "sigmask:"))) {
		free(info);
		return strdup("?");
	}
	if ((e = strchr(p, '\n')))
		*e = '\0';
	p = strdup(p);
	free(info);
	return p;
}

static int read_sig(int fd, int signo, int code, int val, const char *what)
{
	struct signalfd_siginfo si;
	ssize_t r;

	memset(&si, 0, sizeof(si));
	r = read(fd, &si, sizeof(si));
	if (r != sizeof(si)) {
		fail("%s: no signal to read (%zd)", what, r);
		return 1;
	}
	if ((int)si.ssi_signo != signo || si.ssi_code != code || (int)si.ssi_pid != getpid() ||
	    si.ssi_uid != getuid() || (code == SI_QUEUE && si.ssi_int != val)) {
		fail("%s: read signo %u code %d pid %u uid %u value %d, expected %d/%d/%d/%u/%d", what,
		     si.ssi_signo, si.ssi_code, si.ssi_pid, si.ssi_uid, si.ssi_int, signo, code,
		     (int)getpid(), (unsigned)getuid(), val);
		return 1;
	}
	return 0;
}

static int expect_empty(int fd, const char *what)
{
	struct signalfd_siginfo si;
	int fl = fcntl(fd, F_GETFL);
	ssize_t r;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	errno = 0;
	r = read(fd, &si, sizeof(si));
	fcntl(fd, F_SETFL, fl);
	if (r != -1 || errno != EAGAIN) {
		fail("%s: more signals than were sent (signo %u)", what, r > 0 ? si.ssi_signo : 0);
		return 1;
	}
	errno = 0;
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t m1, m2, all, cur;
	char *l1_before, *l2_before, *l1, *l2;
	union sigval v;
	int sfd1, sfd2, ret = 0, i;

	test_init(argc, argv);

	sigemptyset(&m1);
	sigaddset(&m1, SIGUSR1);
	sigaddset(&m1, RTSIG);
	sigemptyset(&m2);
	sigaddset(&m2, SIGUSR2);
	sigemptyset(&all);
	sigaddset(&all, SIGUSR1);
	sigaddset(&all, SIGUSR2);
	sigaddset(&all, RTSIG);
	if (sigprocmask(SIG_BLOCK, &all, NULL)) {
		pr_perror("sigprocmask");
		return 1;
	}
	sfd1 = signalfd(-1, &m1, SFD_NONBLOCK);
	sfd2 = signalfd(-1, &m2, SFD_CLOEXEC);
	if (sfd1 < 0 || sfd2 < 0) {
		pr_perror("signalfd");
		return 1;
	}
	v.sival_int = V_USR1;
	if (sigqueue(getpid(), SIGUSR1, v)) {
		pr_perror("sigqueue SIGUSR1");
		return 1;
	}
	v.sival_int = V_RT1;
	if (sigqueue(getpid(), RTSIG, v)) {
		pr_perror("sigqueue RT 1");
		return 1;
	}
	v.sival_int = V_RT2;
	if (sigqueue(getpid(), RTSIG, v)) {
		pr_perror("sigqueue RT 2");
		return 1;
	}
	if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2)) {
		pr_perror("tgkill SIGUSR2");
		return 1;
	}
	l1_before = sigmask_line(sfd1);
	l2_before = sigmask_line(sfd2);

	test_daemon();
	test_waitsig();
	errno = 0;

	l1 = sigmask_line(sfd1);
	l2 = sigmask_line(sfd2);
	if (strcmp(l1, l1_before) || strcmp(l2, l2_before)) {
		fail("signalfd masks changed: sfd1 \"%s\" -> \"%s\", sfd2 \"%s\" -> \"%s\"", l1_before, l1,
		     l2_before, l2);
		ret = 1;
	}
	if (!(fcntl(sfd1, F_GETFL) & O_NONBLOCK) || !(fcntl(sfd2, F_GETFD) & FD_CLOEXEC) ||
	    (fcntl(sfd2, F_GETFL) & O_NONBLOCK)) {
		fail("signalfd flags changed");
		ret = 1;
	}
	if (sigprocmask(SIG_BLOCK, NULL, &cur)) {
		fail("sigprocmask");
		return 1;
	}
	for (i = 1; i < SIGRTMAX; i++)
		if (sigismember(&all, i) && !sigismember(&cur, i)) {
			fail("signal %d is no longer blocked", i);
			ret = 1;
		}

	ret |= read_sig(sfd1, SIGUSR1, SI_QUEUE, V_USR1, "sfd1, SIGUSR1");
	ret |= read_sig(sfd1, RTSIG, SI_QUEUE, V_RT1, "sfd1, first SIGRTMIN+3");
	ret |= read_sig(sfd1, RTSIG, SI_QUEUE, V_RT2, "sfd1, second SIGRTMIN+3");
	ret |= expect_empty(sfd1, "sfd1");
	ret |= read_sig(sfd2, SIGUSR2, SI_TKILL, 0, "sfd2, SIGUSR2");
	ret |= expect_empty(sfd2, "sfd2");

	/* still delivering */
	if (kill(getpid(), SIGUSR2)) {
		fail("kill");
		return 1;
	}
	ret |= read_sig(sfd2, SIGUSR2, SI_USER, 0, "sfd2, SIGUSR2 sent after restore");
	ret |= expect_empty(sfd1, "sfd1 after SIGUSR2");
	if (!ret)
		pass();
	return ret;
}
