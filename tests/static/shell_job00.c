/*
 * shell_job00: a task whose terminal's other end is outside the dumped
 * tree (criu --shell-job).
 *
 * This is the part of the "shell job" case a ZDTM workload can build: a
 * ZDTM test process is always a session leader (the protocol's setsid()),
 * so its session can't come from outside; its terminal can.  The workload
 * opens a pty pair, makes the slave its controlling terminal, sets
 * termios (raw-ish flags, VMIN/VTIME, a changed VINTR) and a window size,
 * and gives the master to a helper that leaves the tree (double fork,
 * setsid, re-parented to the harness).  The tree then holds an unpaired
 * pty slave: criu refuses to dump it ("Found slave peer index N without
 * correspond master peer") unless given --shell-job.
 *
 * On restore with --shell-job criu does not reconnect to the old pty: it
 * "inherits" the terminal, i.e. dups its own stdin into the slave's place
 * and re-applies the dumped termios and window size to it.  So after
 * restore the fd must still be a terminal, with the termios settings and
 * the window size set before the checkpoint.  (Without a restore -- `zdtm
 * run --norst` -- it is still the same pty, and the helper's master must
 * still see what is written to it.)  Checked by hand: dump with
 * --shell-job, then `script -qec "criu restore --shell-job
 * --restore-detached ..."`, SIGTERM: PASS.
 *
 * criu restore --shell-job refuses to start unless its stdin is a terminal
 * ("Standard stream is not a terminal, aborting"): the harness gives criu
 * restore a pty slave as stdin and controlling terminal for tests whose
 * options have --shell-job.
 *
 * The helper exits when its master sees the slave's last close (the
 * dumped task killed, or the workload exiting) or after a timeout.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "zdtmtst.h"

#define HELPER_TIMEOUT 300

static int termios_same(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && a->c_cc[VMIN] == b->c_cc[VMIN] &&
	       a->c_cc[VTIME] == b->c_cc[VTIME] && a->c_cc[VINTR] == b->c_cc[VINTR];
}

/* helper: hold the master; report what arrives on it through `rep` */
static void helper(int master, int rep)
{
	char buf[256];
	int fd;
	ssize_t r;

	for (fd = 3; fd < 1024; fd++)
		if (fd != master && fd != rep)
			close(fd);
	setsid(); /* don't keep the workload's session id (= its pid) busy */
	alarm(HELPER_TIMEOUT);
	if (write(rep, "R", 1) != 1)
		_exit(1);
	while ((r = read(master, buf, sizeof(buf))) > 0)
		if (write(rep, buf, r) != r)
			break;
	_exit(0);
}

int main(int argc, char **argv)
{
	struct termios t, want, got;
	struct winsize ws = { .ws_row = 33, .ws_col = 111 }, gws;
	int master, slave, rep[2], ret = 0;
	char *name, c, buf[64];
	struct pollfd pfd;
	struct stat st;
	ino_t rep_ino;
	pid_t pid;

	test_init(argc, argv);

	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) || !(name = ptsname(master))) {
		pr_perror("posix_openpt");
		return 1;
	}
	slave = open(name, O_RDWR); /* no O_NOCTTY: our controlling terminal */
	if (slave < 0) {
		pr_perror("open %s", name);
		return 1;
	}
	if (ioctl(slave, TIOCSCTTY, 0) && errno != EPERM) {
		pr_perror("TIOCSCTTY");
		return 1;
	}
	if (tcgetattr(slave, &t)) {
		pr_perror("tcgetattr");
		return 1;
	}
	t.c_lflag &= ~(ECHO | ICANON);
	t.c_iflag &= ~ICRNL;
	t.c_oflag &= ~OPOST;
	t.c_cc[VMIN] = 3;
	t.c_cc[VTIME] = 7;
	t.c_cc[VINTR] = 0x07;
	if (tcsetattr(slave, TCSANOW, &t) || ioctl(slave, TIOCSWINSZ, &ws) || tcgetattr(slave, &want)) {
		pr_perror("tcsetattr/TIOCSWINSZ");
		return 1;
	}

	if (pipe(rep)) {
		pr_perror("pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(slave);
		close(rep[0]);
		if (fork() == 0)
			helper(master, rep[1]);
		_exit(0);
	}
	close(master);
	close(rep[1]);
	if (wait_exit_code(pid) != 0 || read(rep[0], &c, 1) != 1 || c != 'R') {
		pr_err("the helper did not start");
		return 1;
	}
	if (fstat(rep[0], &st)) {
		pr_perror("fstat");
		return 1;
	}
	rep_ino = st.st_ino;
	if (tcgetsid(slave) != getsid(0)) {
		pr_err("the pty is not our controlling terminal");
		return 1;
	}
	test_msg("%s is our terminal; its master is outside the tree\n", name);

	test_daemon();
	test_waitsig();

	if (!isatty(slave)) {
		fail("the terminal fd is not a terminal any more");
		return 1;
	}
	if (tcgetattr(slave, &got) || !termios_same(&got, &want)) {
		fail("termios changed: lflag %#x->%#x iflag %#x->%#x oflag %#x->%#x VMIN %d->%d VTIME %d->%d",
		     want.c_lflag, got.c_lflag, want.c_iflag, got.c_iflag, want.c_oflag, got.c_oflag,
		     want.c_cc[VMIN], got.c_cc[VMIN], want.c_cc[VTIME], got.c_cc[VTIME]);
		ret = 1;
	}
	if (ioctl(slave, TIOCGWINSZ, &gws) || gws.ws_row != ws.ws_row || gws.ws_col != ws.ws_col) {
		fail("window size %dx%d, expected %dx%d", gws.ws_row, gws.ws_col, ws.ws_row, ws.ws_col);
		ret = 1;
	}

	/*
	 * No restore happened (the report pipe is still the same pipe: a
	 * restore recreates it)?  Then it is still our pty and the helper's
	 * master sees what we write.  (The pty index alone can't tell: the
	 * inherited terminal may well get the same /dev/pts number.)
	 */
	if (!fstat(rep[0], &st) && st.st_ino == rep_ino) {
		if (write(slave, "to-master", 9) != 9) {
			fail("write to the terminal");
			ret = 1;
		} else {
			pfd.fd = rep[0];
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 5000) != 1 || read(rep[0], buf, sizeof(buf)) != 9 ||
			    memcmp(buf, "to-master", 9)) {
				fail("the helper's master end did not get what was written to %s", name);
				ret = 1;
			}
		}
	} else {
		test_msg("the terminal is now %s (inherited from criu restore)\n", ttyname(slave) ?: "?");
	}

	if (!ret)
		pass();
	return ret;
}
