/*
 * tcp_stream: a loopback TCP connection carries data both ways, without
 * pause, while both ends are checkpointed and restored
 * (criu --tcp-established).
 *
 * Runs as root (suid): dumping an established TCP connection needs
 * TCP_REPAIR (CAP_NET_ADMIN) and criu locks the network with iptables;
 * neither is possible for a criu dumping as the workload's owner
 * (--unprivileged).
 *
 * The test listens on 127.0.0.1 (ephemeral port), a forked peer connects.
 * Each side streams a deterministic byte stream of its own (live_stream_*,
 * different seeds) to the other with non-blocking writes of varying size
 * and checks every byte it receives against its offset; both send as fast
 * as they can, so data is queued in both directions (in the send queues
 * and in the receive queues) at dump time.  (Shrinking SO_SNDBUF/SO_RCVBUF
 * to 16 KiB made loopback TCP stall for many seconds now and then, with
 * data stuck in both send queues: not a C/R matter, so the buffers keep
 * their defaults.)  The listening socket stays open the whole time.
 *
 * At SIGTERM the test sets a stop flag in shared memory; each side then
 * finishes, shuts down its sending direction and reads until EOF; the peer
 * reports what it sent and received.  Checks: both streams intact (no
 * loss, duplication, reordering or corruption), received == sent in both
 * directions, the peer exited cleanly, both directions made progress, and
 * a new connection to the same listening port still works.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define SEED_TEST 0x7e57ull
#define SEED_PEER 0x9ee7ull
#define CHUNK 32768

struct shared {
	volatile int stop;
	volatile uint64_t sent[2], rcvd[2];	/* [0] the test, [1] the peer */
	volatile int err[2];
};

/*
 * Pump both directions until stopped, then finish: shutdown(SHUT_WR) and
 * read to EOF.  me: 0 = test, 1 = peer.  Returns 0 or -1 (after a fail()).
 */
static int pump(int sk, int me, struct shared *sh, int (*go)(void))
{
	static uint8_t out[CHUNK], in[65536];
	uint64_t seed_out = me ? SEED_PEER : SEED_TEST, seed_in = me ? SEED_TEST : SEED_PEER;
	uint64_t soff = 0, roff = 0, n = 0;
	int wr_open = 1, eof = 0;
	struct pollfd p;
	ssize_t r, bad;

	set_nonblock(sk, 1);
	while (!eof) {
		if (wr_open && (sh->stop || (go && !go()))) {
			sh->stop = 1;
			if (shutdown(sk, SHUT_WR)) {
				pr_perror("%s: shutdown", me ? "peer" : "test");
				return -1;
			}
			wr_open = 0;
		}
		p.fd = sk;
		p.events = POLLIN | (wr_open ? POLLOUT : 0);
		if (poll(&p, 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			pr_perror("poll");
			return -1;
		}
		if (wr_open && (p.revents & POLLOUT)) {
			size_t len = 1 + live_mix64(seed_out + n++) % CHUNK;

			live_stream_fill(out, len, soff, seed_out);
			r = send(sk, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				pr_perror("%s: send at offset %llu", me ? "peer" : "test", (unsigned long long)soff);
				return -1;
			}
			if (r > 0) {
				soff += r;
				sh->sent[me] = soff;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			r = recv(sk, in, sizeof(in), MSG_DONTWAIT);
			if (r == 0) {
				eof = 1;
			} else if (r < 0) {
				if (errno != EAGAIN && errno != EINTR) {
					pr_perror("%s: recv at offset %llu", me ? "peer" : "test", (unsigned long long)roff);
					return -1;
				}
			} else {
				bad = live_stream_check(in, r, roff, seed_in);
				if (bad >= 0) {
					fail("%s: received stream corrupted at offset %llu", me ? "peer" : "test",
					     (unsigned long long)(roff + bad));
					return -1;
				}
				roff += r;
				sh->rcvd[me] = roff;
			}
		}
		if (eof && wr_open) {
			if (!sh->stop) {
				fail("%s: EOF from the other side before the stop", me ? "peer" : "test");
				return -1;
			}
			/* the other side stopped first: finish our direction too */
			if (shutdown(sk, SHUT_WR)) {
				pr_perror("%s: shutdown", me ? "peer" : "test");
				return -1;
			}
			wr_open = 0;
		}
	}
	return 0;
}

static struct shared *g_sh;

/* pump()'s go() for the test: readiness once data flows both ways, then test_go() */
static int test_ready_and_go(void)
{
	static int ready;

	if (!ready) {
		if (g_sh->rcvd[0] > 4 * CHUNK && g_sh->rcvd[1] > 4 * CHUNK) {
			test_daemon();
			ready = 1;
		}
		return 1;
	}
	return test_go();
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	socklen_t alen = sizeof(addr);
	int lsk, sk, status, one = 1, ret = 0;
	pid_t pid;

	test_init(argc, argv);

	g_sh = live_shared(sizeof(*g_sh));
	lsk = socket(AF_INET, SOCK_STREAM, 0);
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!g_sh || lsk < 0 || bind(lsk, (struct sockaddr *)&addr, sizeof(addr)) || listen(lsk, 4) ||
	    getsockname(lsk, (struct sockaddr *)&addr, &alen)) {
		pr_perror("listen");
		return 1;
	}

	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		close(lsk);
		if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr))) {
			pr_perror("peer: connect");
			_exit(1);
		}
		_exit(pump(c, 1, g_sh, NULL) ? 2 : 0);
	}
	sk = accept(lsk, NULL, NULL);
	if (sk < 0) {
		pr_perror("accept");
		kill(pid, SIGKILL);
		return 1;
	}
	setsockopt(sk, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if (pump(sk, 0, g_sh, test_ready_and_go))
		ret = 1;
	g_sh->stop = 1;
	if (ret)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail("the peer ended with status %#x", status);
		ret = 1;
	}
	test_waitsig();
	if (ret)
		return 1;

	test_msg("test->peer %llu bytes (peer got %llu), peer->test %llu bytes (test got %llu)",
		 (unsigned long long)g_sh->sent[0], (unsigned long long)g_sh->rcvd[1],
		 (unsigned long long)g_sh->sent[1], (unsigned long long)g_sh->rcvd[0]);
	if (g_sh->sent[0] != g_sh->rcvd[1] || g_sh->sent[1] != g_sh->rcvd[0]) {
		fail("bytes lost on the way");
		ret = 1;
	}
	/* the listener still works */
	{
		int c = socket(AF_INET, SOCK_STREAM, 0), a;
		char x = 0;

		if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)) ||
		    (a = accept(lsk, NULL, NULL)) < 0 || write(c, "z", 1) != 1 || read(a, &x, 1) != 1 || x != 'z') {
			fail("a new connection to port %d after restore failed", ntohs(addr.sin_port));
			ret = 1;
		}
	}
	if (!ret)
		pass();
	return ret;
}
