/*
 * pdeath00: the tree's root has a parent-death signal (PR_SET_PDEATHSIG,
 * SIGUSR2, handled), and keeps it across C/R without getting it.
 *
 * criu restores the root with --restore-sibling (.desc): criu forks it with
 * CLONE_PARENT, so its parent is criu's caller, not criu, and criu's exit
 * after the restore is no parent death. Restored --restore-detached instead,
 * the root would be criu's child and get SIGUSR2 the moment criu exits
 * (criu warns: "Root task has pdeath_sig configured"). Over --rpc the caller
 * is the RPC client, which runs criu swrk as its own sibling so that the
 * root is the harness's child too.
 *
 * The signal is set once the launcher has exited (the protocol's parent,
 * whose exit would otherwise fire it before the checkpoint): until then it is
 * set, and the one SIGUSR2 it may cost is told apart by its sender. After
 * restore: PR_GET_PDEATHSIG is still SIGUSR2 and no SIGUSR2 came from anyone
 * but the launcher. In ns/uns the root is the flavor's init and this task its
 * child: its pdeath signal must come back just as well.
 */
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "zdtmtst.h"

static volatile sig_atomic_t got, last_sender;

static void on_usr2(int sig, siginfo_t *info, void *ctx)
{
	got++;
	last_sender = info->si_pid;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pid_t launcher;
	int sig = 0, launcher_signals;

	test_init(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigaction(SIGUSR2, &sa, NULL)) {
		pr_perror("sigaction");
		return 1;
	}
	launcher = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0)) {
		pr_perror("PR_SET_PDEATHSIG");
		return 1;
	}

	test_daemon();
	/* the launcher exits once it has the pidfile: its SIGUSR2 is expected */
	while (getppid() == launcher)
		usleep(1000);
	while (!got)
		usleep(1000);
	launcher_signals = got;
	errno = 0;
	if (launcher_signals != 1 || last_sender != launcher) {
		fail("before C/R: %d SIGUSR2, the last from %d, expected one from the launcher %d",
		     launcher_signals, (int)last_sender, (int)launcher);
		return 1;
	}
	test_waitsig();

	if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0)) {
		pr_perror("PR_GET_PDEATHSIG");
		return 1;
	}
	errno = 0;	/* what the handler's interruptions left says nothing here */
	if (sig != SIGUSR2)
		fail("the parent-death signal is %d after restore, not SIGUSR2 (%d)", sig, SIGUSR2);
	else if (got != launcher_signals)
		fail("got SIGUSR2 from pid %d after the checkpoint: the restored root's parent died "
		     "(restored as criu's child, not its sibling?)", (int)last_sender);
	else
		pass();
	return 0;
}
