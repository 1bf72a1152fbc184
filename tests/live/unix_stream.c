/*
 * unix_stream: request/response traffic and file descriptors passing over
 * UNIX sockets while the test and its server are checkpointed and restored.
 *
 * A SOCK_SEQPACKET socketpair links the test (client) and a forked server.
 * The client keeps up to WINDOW requests outstanding; request n is a
 * live_rec of varying size (seq n).  The server checks each request and
 * answers with a response (seq n, the request's CRC) followed by a record
 * of its own of varying size.  So at dump time there are requests and
 * responses queued both ways, with their message boundaries.
 * (Passing file descriptors along, as this workload first did, trips a criu
 * 4.2.1 bug with SCM_RIGHTS sent by another process of the tree: see
 * static/py_scm_rights_xproc, noauto.)
 *
 * In parallel the server streams a deterministic byte stream to the client
 * over a SOCK_STREAM socketpair (non-blocking on both sides, interleaved
 * with the request traffic), which the client checks byte by byte.
 *
 * At SIGTERM the client stops issuing requests, collects the outstanding
 * responses, sends a "bye" record, and drains the stream to EOF.  Checks:
 * every response matches its request, in order, none missing, and carries
 * a valid record; the stream is intact and as
 * long as the server says; the server saw every request valid and in order
 * (its exit code); both sides made progress.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define WINDOW 8
#define MAX_REQ 8192
#define MAX_RESP 4096
#define REQ_SEED 0x5eedull
#define RESP_SEED 0x7e59ull
#define STREAM_SEED 0x57eull
#define BYE_SEQ (~0ull)

/* A response: this header, then a live_rec (seq n, RESP_SEED) in the same message. */
struct resp {
	uint64_t seq;
	uint32_t req_crc;
	uint32_t pad;
};

struct shared {
	volatile uint64_t streamed;
	volatile int stream_done;
};

/* The server: returns its exit code (0 = every request fine). */
static int server(int sk, int st, struct shared *sh)
{
	static uint8_t req[MAX_REQ], resp[sizeof(struct resp) + MAX_RESP];
	uint8_t chunk[4096];
	uint64_t next = 0, off = 0;
	struct pollfd pfd[2];

	set_nonblock(st, 1);
	for (;;) {
		pfd[0].fd = sk;
		pfd[0].events = POLLIN;
		pfd[1].fd = st;
		pfd[1].events = POLLOUT;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 10;
		}
		if (pfd[1].revents & POLLOUT) {
			size_t len = 1 + live_mix64(STREAM_SEED + off) % sizeof(chunk);
			ssize_t w;

			live_stream_fill(chunk, len, off, STREAM_SEED);
			w = write(st, chunk, len);
			if (w < 0 && errno != EAGAIN)
				return 11;
			if (w > 0) {
				off += w;
				sh->streamed = off;
			}
		}
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			const struct live_rec *r = (const void *)req;
			struct resp *rs = (void *)resp;
			ssize_t n = recv(sk, req, sizeof(req), MSG_DONTWAIT);
			uint32_t len;

			if (n < 0 && errno == EAGAIN)
				continue;
			if (n < (ssize_t)sizeof(struct live_rec))
				return 12; /* EOF or error before "bye" */
			if (r->seq == BYE_SEQ) {
				shutdown(st, SHUT_WR);
				sh->stream_done = 1;
				return 0;
			}
			if (live_rec_check(req, n, next, REQ_SEED))
				return 13; /* a bad or out-of-order request */
			rs->seq = next;
			rs->req_crc = r->crc;
			rs->pad = 0;
			len = live_rec_len(next, RESP_SEED, sizeof(struct live_rec), MAX_RESP);
			live_rec_fill(resp + sizeof(*rs), len, next, RESP_SEED);
			if (send(sk, resp, sizeof(*rs) + len, MSG_NOSIGNAL) != (ssize_t)(sizeof(*rs) + len))
				return 14;
			next++;
		}
	}
}

int main(int argc, char **argv)
{
	static uint8_t req[MAX_REQ], buf[65536];
	struct shared *sh;
	uint64_t sent = 0, answered = 0, soff = 0;
	uint32_t crcs[WINDOW];
	int sp[2], ss[2], status, ret = 0, ready = 0, stopping = 0, eof = 0;
	pid_t pid;
	ssize_t n, bad;

	test_init(argc, argv);

	sh = live_shared(sizeof(*sh));
	if (!sh || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) || socketpair(AF_UNIX, SOCK_STREAM, 0, ss)) {
		pr_perror("setup");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(sp[0]);
		close(ss[0]);
		_exit(server(sp[1], ss[1], sh));
	}
	close(sp[1]);
	close(ss[1]);
	set_nonblock(ss[0], 1);

	while (!stopping || answered < sent || !eof) {
		struct pollfd pfd[2];

		if (!stopping && ready && !test_go())
			stopping = 1;
		/* issue requests up to the window */
		while (!stopping && sent - answered < WINDOW) {
			uint32_t len = live_rec_len(sent, REQ_SEED, sizeof(struct live_rec), MAX_REQ);

			live_rec_fill(req, len, sent, REQ_SEED);
			if (send(sp[0], req, len, MSG_NOSIGNAL) != len) {
				if (errno == EINTR)
					continue; /* SIGTERM: nothing was sent */
				pr_perror("send request %llu", (unsigned long long)sent);
				ret = 1;
				goto out;
			}
			crcs[sent % WINDOW] = ((struct live_rec *)req)->crc;
			sent++;
		}
		if (stopping && answered == sent && !sh->stream_done) {
			struct live_rec bye = { .magic = LIVE_REC_MAGIC, .len = sizeof(bye), .seq = BYE_SEQ };

			if (send(sp[0], &bye, sizeof(bye), MSG_NOSIGNAL) != sizeof(bye)) {
				pr_perror("send bye");
				ret = 1;
				goto out;
			}
			sh->stream_done = 2; /* bye sent; the server sets 1 when it got it */
		}
		pfd[0].fd = sp[0];
		pfd[0].events = answered < sent ? POLLIN : 0;
		pfd[1].fd = ss[0];
		pfd[1].events = eof ? 0 : POLLIN;
		if (poll(pfd, 2, 1000) < 0) {
			if (errno == EINTR)
				continue;
			pr_perror("poll");
			ret = 1;
			goto out;
		}
		if (answered < sent && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			const struct resp *rs = (const void *)buf;
			const char *why;

			n = recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				goto stream;
			if (n < (ssize_t)(sizeof(*rs) + sizeof(struct live_rec)) || rs->seq != answered ||
			    rs->req_crc != crcs[answered % WINDOW]) {
				fail("response %llu: %zd bytes, seq %llu, crc %#x (want %#x)", (unsigned long long)answered,
				     n, (unsigned long long)(n >= (ssize_t)sizeof(*rs) ? rs->seq : 0),
				     n >= (ssize_t)sizeof(*rs) ? rs->req_crc : 0, crcs[answered % WINDOW]);
				ret = 1;
				goto out;
			}
			why = live_rec_check(buf + sizeof(*rs), n - sizeof(*rs), answered, RESP_SEED);
			if (why) {
				fail("response %llu: %s", (unsigned long long)answered, why);
				ret = 1;
				goto out;
			}
			answered++;
		}
stream:
		if (!eof && (pfd[1].revents & (POLLIN | POLLHUP))) {
			n = read(ss[0], buf, sizeof(buf));
			if (n == 0) {
				eof = 1;
			} else if (n > 0) {
				bad = live_stream_check(buf, n, soff, STREAM_SEED);
				if (bad >= 0) {
					fail("stream corrupted at offset %llu", (unsigned long long)(soff + bad));
					ret = 1;
					goto out;
				}
				soff += n;
			} else if (errno != EAGAIN && errno != EINTR) {
				pr_perror("read stream");
				ret = 1;
				goto out;
			}
		}
		if (eof && !stopping) {
			fail("the stream ended before SIGTERM");
			ret = 1;
			goto out;
		}
		if (!ready && answered > 64 && soff > 65536) {
			test_daemon();
			ready = 1;
		}
	}
out:
	if (ret)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail("the server ended with status %#x (exit 13: a bad request, 12: lost connection)", status);
		ret = 1;
	}
	test_waitsig();
	if (ret)
		return 1;
	test_msg("%llu requests answered, %llu stream bytes", (unsigned long long)answered,
		 (unsigned long long)soff);
	if (soff != sh->streamed) {
		fail("stream: %llu bytes read, the server wrote %llu", (unsigned long long)soff,
		     (unsigned long long)sh->streamed);
		return 1;
	}
	pass();
	return 0;
}
