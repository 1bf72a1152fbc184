/*
 * lease00: a read lease (F_SETLEASE F_RDLCK) on a file the test owns, and
 * a write lease on a second one (criu --file-locks).  Lease breaks are
 * signalled with SIGUSR1 (F_SETSIG) to the test, which owns the fds.
 * After restore: F_GETLEASE reports F_RDLCK and F_WRLCK, F_GETSIG and
 * F_GETOWN are kept, and the leases still work: a helper opening the first
 * file for writing (O_NONBLOCK) is refused with EWOULDBLOCK and the test
 * gets SIGUSR1 for that fd (si_fd); the lease is then being broken
 * (F_GETLEASE F_UNLCK), and after the test gives it up the helper can open
 * the file.  The write lease is broken the same way by a helper opening
 * the second file for reading (the lease goes down to F_RDLCK).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

char *filename;
TEST_OPTION(filename, string, "file name", 1);

static char path_r[4096], path_w[4096];
static volatile sig_atomic_t got_fd = -1, nsig;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	got_fd = si->si_fd;
	nsig++;
}

/* exit code 0: open() refused with EWOULDBLOCK, 1: it succeeded, 2: other */
static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EWOULDBLOCK ? 0 : 2;
}

static int open_wr(void *arg)
{
	(void)arg;
	return try_open(path_r, O_WRONLY);
}

static int open_rd(void *arg)
{
	(void)arg;
	return try_open(path_w, O_RDONLY);
}

static int wait_sig(int fd)
{
	int i;

	for (i = 0; i < 500 && got_fd != fd; i++)
		usleep(10000);
	return got_fd == fd ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int r, w, l, ret = 0;

	test_init(argc, argv);

	snprintf(path_r, sizeof(path_r), "%s.r", filename);
	snprintf(path_w, sizeof(path_w), "%s.w", filename);
	r = open(path_r, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (r >= 0) {
		close(r);
		r = open(path_r, O_RDONLY);
	}
	w = open(path_w, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (r < 0 || w < 0) {
		pr_perror("create %s", filename);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL)) {
		pr_perror("sigaction");
		return 1;
	}
	if (fcntl(r, F_SETSIG, SIGUSR1) || fcntl(w, F_SETSIG, SIGUSR1) || fcntl(r, F_SETLEASE, F_RDLCK) ||
	    fcntl(w, F_SETLEASE, F_WRLCK)) {
		pr_perror("F_SETSIG/F_SETLEASE");
		return 1;
	}

	test_daemon();
	test_waitsig();
	errno = 0;

	l = fcntl(r, F_GETLEASE);
	if (l != F_RDLCK) {
		fail("F_GETLEASE on the read-leased file: %d, expected F_RDLCK (%d)", l, F_RDLCK);
		ret = 1;
	}
	l = fcntl(w, F_GETLEASE);
	if (l != F_WRLCK) {
		fail("F_GETLEASE on the write-leased file: %d, expected F_WRLCK (%d)", l, F_WRLCK);
		ret = 1;
	}
	if (fcntl(r, F_GETSIG) != SIGUSR1 || fcntl(w, F_GETSIG) != SIGUSR1) {
		fail("F_GETSIG: %d/%d, expected SIGUSR1", fcntl(r, F_GETSIG), fcntl(w, F_GETSIG));
		ret = 1;
	}
	if (fcntl(r, F_GETOWN) != getpid() || fcntl(w, F_GETOWN) != getpid()) {
		fail("F_GETOWN: %d/%d, expected us (%d)", fcntl(r, F_GETOWN), fcntl(w, F_GETOWN), getpid());
		ret = 1;
	}
	if (ret)
		return 1;	/* don't wait for breaks of leases we don't have */

	/* break the read lease */
	l = wait_exit_code(test_fork_helper(open_wr, NULL));
	if (l != 0) {
		fail("another process could open the read-leased file for writing (%d): no lease", l);
		ret = 1;
	} else if (wait_sig(r)) {
		fail("no lease-break signal for the read lease (nsig %d, si_fd %d)", (int)nsig, (int)got_fd);
		ret = 1;
	} else if ((l = fcntl(r, F_GETLEASE)) != F_UNLCK) {
		fail("the read lease is not being broken: F_GETLEASE %d", l);
		ret = 1;
	}
	if (fcntl(r, F_SETLEASE, F_UNLCK) || wait_exit_code(test_fork_helper(open_wr, NULL)) != 1) {
		fail("after giving up the read lease the file still cannot be opened for writing");
		ret = 1;
	}

	/* break the write lease down to a read lease */
	got_fd = -1;
	l = wait_exit_code(test_fork_helper(open_rd, NULL));
	if (l != 0) {
		fail("another process could open the write-leased file for reading (%d): no lease", l);
		ret = 1;
	} else if (wait_sig(w)) {
		fail("no lease-break signal for the write lease (nsig %d, si_fd %d)", (int)nsig, (int)got_fd);
		ret = 1;
	} else if ((l = fcntl(w, F_GETLEASE)) != F_RDLCK) {
		fail("the write lease is not being broken to a read lease: F_GETLEASE %d", l);
		ret = 1;
	}
	if (fcntl(w, F_SETLEASE, F_UNLCK) || wait_exit_code(test_fork_helper(open_rd, NULL)) != 1) {
		fail("after giving up the write lease the file still cannot be opened");
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
