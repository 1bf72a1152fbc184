/*
 * pipe_stream: a producer process streams data through a pipe to the test
 * process while it is checkpointed and restored.
 *
 * The producer writes an endless deterministic byte stream (live_stream_*)
 * in chunks of varying size (1 byte .. 96 KiB) into a pipe whose buffer was
 * shrunk to 16 KiB, so it blocks on a full pipe most of the time; the test
 * reads chunks of varying size and checks every byte against its offset in
 * the stream.  Both run from before test_daemon() until SIGTERM, so the dump
 * catches data in flight, a producer blocked in write() and a consumer
 * somewhere in its loop.
 *
 * At SIGTERM the test asks the producer to stop (a flag in shared memory);
 * the producer finishes its current chunk, publishes its byte count and
 * closes the pipe; the test drains to EOF.  Checks: every byte in order
 * (no loss, duplication or corruption), bytes read == bytes written, the
 * producer exited 0, the stream made progress, and the pipe size is kept.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define SEED 0x70697065ull /* "pipe" */
#define MAX_CHUNK (96 * 1024)
#define PIPE_SZ (16 * 1024)

struct shared {
	volatile int stop;
	volatile uint64_t produced;
	volatile uint64_t chunks;
};

static int producer(struct shared *sh, int wfd)
{
	static uint8_t buf[MAX_CHUNK];
	uint64_t off = 0, n = 0;
	size_t len;

	while (!sh->stop) {
		len = 1 + live_mix64(SEED + n) % MAX_CHUNK;
		if (n % 7 == 0)
			len = 1 + len % 64; /* some tiny writes too */
		live_stream_fill(buf, len, off, SEED);
		if (write_all(wfd, buf, len) != (ssize_t)len) {
			pr_perror("producer: write of %zu bytes at offset %llu", len, (unsigned long long)off);
			return 1;
		}
		off += len;
		n++;
		sh->produced = off;
		sh->chunks = n;
	}
	close(wfd);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t buf[MAX_CHUNK];
	struct shared *sh;
	uint64_t consumed = 0, reads = 0;
	int p[2], status, sz_before, sz_after, ret = 0;
	pid_t pid;
	ssize_t r, bad;
	size_t want;

	test_init(argc, argv);

	sh = live_shared(sizeof(*sh));
	if (!sh || pipe(p)) {
		pr_perror("setup");
		return 1;
	}
	sz_before = fcntl(p[0], F_SETPIPE_SZ, PIPE_SZ);
	if (sz_before < 0) {
		pr_perror("F_SETPIPE_SZ");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		_exit(producer(sh, p[1]));
	}
	close(p[1]);

	test_daemon();

	while (test_go()) {
		want = 1 + live_mix64(~SEED + reads) % sizeof(buf);
		r = read(p[0], buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail("read returned %zd after %llu bytes while the producer should be running",
			     r, (unsigned long long)consumed);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 1;
		}
		bad = live_stream_check(buf, r, consumed, SEED);
		if (bad >= 0) {
			fail("stream corrupted at offset %llu (read #%llu)",
			     (unsigned long long)(consumed + bad), (unsigned long long)reads);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 1;
		}
		consumed += r;
		reads++;
	}

	sz_after = fcntl(p[0], F_GETPIPE_SZ);
	sh->stop = 1;
	/* drain to EOF */
	while ((r = read(p[0], buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			pr_perror("read while draining");
			ret = 1;
			break;
		}
		bad = live_stream_check(buf, r, consumed, SEED);
		if (bad >= 0) {
			fail("stream corrupted at offset %llu while draining",
			     (unsigned long long)(consumed + bad));
			ret = 1;
			break;
		}
		consumed += r;
		reads++;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail("producer ended with status %#x", status);
		ret = 1;
	}
	test_msg("%llu bytes in %llu reads, %llu chunks written", (unsigned long long)consumed,
		 (unsigned long long)reads, (unsigned long long)sh->chunks);
	if (!ret && consumed != sh->produced) {
		fail("read %llu bytes, the producer wrote %llu", (unsigned long long)consumed,
		     (unsigned long long)sh->produced);
		ret = 1;
	}
	if (!ret && sh->chunks < 2) {
		fail("the stream made no progress (%llu chunks)", (unsigned long long)sh->chunks);
		ret = 1;
	}
	if (sz_after != sz_before) {
		fail("pipe size %d, was %d", sz_after, sz_before);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
