/*
 * write_file: records keep being appended to a file while it is checkpointed
 * and restored, by two writers, and followed by a reader.
 *
 * --filename is opened O_WRONLY|O_APPEND by the test and by a forked helper.
 * Each appends self-checking records (live_rec: magic, length, sequence
 * number, CRC, payload derived from the writer's seed and the sequence
 * number) of varying size (32 bytes .. 6 KiB), one write(2) each, so records
 * of the two writers interleave but never tear.  A second fd of the test,
 * O_RDONLY, follows the file: after every few appends it reads whatever new
 * complete records are there and checks them (its own file offset moves
 * along - that offset must survive C/R as well as the writers' positions).
 *
 * After SIGTERM the helper is stopped (a flag in shared memory) and reports
 * how many records and bytes it wrote; then the whole file is read again
 * from the start.  Checks: every record valid; per writer the sequence
 * numbers are 0, 1, 2, ... without gap or duplicate; the counts and byte
 * totals agree with what each writer says it wrote and with the file size;
 * the follower saw exactly the same records in the same order; both
 * writers and the follower made progress.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

static char *filename;
TEST_OPTION(filename, string, "file to append to", 1);

#define MIN_REC 32
#define MAX_REC 6144
#define NWRITERS 2
#define MAX_FILE (64 << 20) /* the writers pause there */

static const uint64_t seeds[NWRITERS] = { 0x1111aaaa, 0x2222bbbb };

struct shared {
	volatile int stop;
	volatile uint64_t written[NWRITERS];	/* records */
	volatile uint64_t bytes[NWRITERS];
	volatile int error;
};

/* The writer's id is encoded in the record's seed; a reader tells them apart
 * by trying both (the CRC makes a wrong guess fail). */
static int append(int fd, int id, struct shared *sh, uint8_t *buf)
{
	uint64_t seq = sh->written[id];
	uint32_t len = live_rec_len(seq, seeds[id], MIN_REC, MAX_REC);
	ssize_t r;

	live_rec_fill(buf, len, seq, seeds[id]);
	r = write(fd, buf, len);
	if (r != (ssize_t)len) {
		pr_perror("writer %d: write of record %llu returned %zd, not %u", id,
			  (unsigned long long)seq, r, len);
		return -1;
	}
	sh->bytes[id] += len;
	sh->written[id] = seq + 1;
	return 0;
}

struct reader {
	int fd;
	uint64_t next[NWRITERS];
	uint64_t records, bytes;
	uint8_t buf[MAX_REC * 4];
	size_t have;	/* bytes in buf not yet consumed */
};

/*
 * Consume the complete records in r->buf; 0 on success, -1 after a fail().
 */
static int parse(struct reader *r, const char *who)
{
	size_t pos = 0;

	while (r->have - pos >= sizeof(struct live_rec)) {
		const struct live_rec *rec = (const void *)(r->buf + pos);
		const char *why = NULL;
		int id, ok = 0;

		if (rec->magic != LIVE_REC_MAGIC || rec->len < sizeof(*rec) || rec->len > MAX_REC) {
			fail("%s: garbage at file offset %llu (magic %#x, len %u)", who,
			     (unsigned long long)(r->bytes), rec->magic, rec->len);
			return -1;
		}
		if (r->have - pos < rec->len)
			break;
		for (id = 0; id < NWRITERS && !ok; id++) {
			why = live_rec_check(rec, rec->len, rec->seq, seeds[id]);
			if (!why) {
				ok = 1;
				if (rec->seq != r->next[id]) {
					fail("%s: writer %d: record %llu follows %llu (gap or duplicate) at offset %llu",
					     who, id, (unsigned long long)rec->seq,
					     (unsigned long long)r->next[id] - 1, (unsigned long long)r->bytes);
					return -1;
				}
				r->next[id]++;
			}
		}
		if (!ok) {
			fail("%s: bad record at offset %llu: %s", who, (unsigned long long)r->bytes, why);
			return -1;
		}
		pos += rec->len;
		r->bytes += rec->len;
		r->records++;
	}
	memmove(r->buf, r->buf + pos, r->have - pos);
	r->have -= pos;
	return 0;
}

/* Read what is there now; 0 or -1 (failed). */
static int follow(struct reader *r, const char *who)
{
	ssize_t n;

	for (;;) {
		n = read(r->fd, r->buf + r->have, sizeof(r->buf) - r->have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_perror("%s: read", who);
			return -1;
		}
		if (n == 0)
			return 0;
		r->have += n;
		if (parse(r, who))
			return -1;
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[MAX_REC];
	static struct reader fol, full;
	struct shared *sh;
	struct stat st;
	uint64_t loops = 0, total_rec, total_bytes;
	int wfd, status, i, ret = 0, ready = 0;
	pid_t pid;

	test_init(argc, argv);

	sh = live_shared(sizeof(*sh));
	if (!sh) {
		pr_perror("mmap");
		return 1;
	}
	wfd = open(filename, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0644);
	fol.fd = open(filename, O_RDONLY);
	if (wfd < 0 || fol.fd < 0) {
		pr_perror("open %s", filename);
		return 1;
	}

	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		return 1;
	}
	if (pid == 0) {
		int fd = open(filename, O_WRONLY | O_APPEND);

		if (fd < 0) {
			pr_perror("helper: open");
			sh->error = 1;
			_exit(1);
		}
		while (!sh->stop) {
			/* keep pace with the test (which waits in test_daemon() a while) */
			if (sh->written[1] > sh->written[0] + 64 || sh->bytes[1] > MAX_FILE / 2) {
				usleep(100);
				continue;
			}
			if (append(fd, 1, sh, buf)) {
				sh->error = 1;
				_exit(1);
			}
		}
		close(fd);
		_exit(0);
	}

	for (;;) {
		if (sh->bytes[0] > MAX_FILE / 2)
			usleep(1000); /* enough: wait for SIGTERM */
		else if (append(wfd, 0, sh, buf)) {
			ret = 1;
			break;
		}
		if (++loops % 8 == 0 && follow(&fol, "follower")) {
			ret = 1;
			break;
		}
		if (!ready && sh->written[0] >= 64 && sh->written[1] >= 16) {
			test_daemon();
			ready = 1;
		}
		if (sh->error) {
			fail("the helper writer failed");
			ret = 1;
			break;
		}
		if (ready && !test_go())
			break;
	}

	sh->stop = 1;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail("helper writer ended with status %#x", status);
		ret = 1;
	}
	test_waitsig();
	if (ret)
		return 1;

	if (follow(&fol, "follower"))
		return 1;
	full.fd = open(filename, O_RDONLY);
	if (full.fd < 0 || fstat(full.fd, &st)) {
		pr_perror("reopen %s", filename);
		return 1;
	}
	if (follow(&full, "full read"))
		return 1;

	total_rec = sh->written[0] + sh->written[1];
	total_bytes = sh->bytes[0] + sh->bytes[1];
	test_msg("writers: %llu + %llu records, %llu bytes; file %lld bytes; follower %llu records",
		 (unsigned long long)sh->written[0], (unsigned long long)sh->written[1],
		 (unsigned long long)total_bytes, (long long)st.st_size, (unsigned long long)fol.records);
	if ((uint64_t)st.st_size != total_bytes) {
		fail("file size %lld, the writers wrote %llu bytes", (long long)st.st_size,
		     (unsigned long long)total_bytes);
		ret = 1;
	}
	if (full.have || fol.have) {
		fail("a torn record at the end of the file (%zu/%zu bytes left)", full.have, fol.have);
		ret = 1;
	}
	for (i = 0; i < NWRITERS; i++) {
		if (full.next[i] != sh->written[i]) {
			fail("writer %d wrote %llu records, the file has %llu", i,
			     (unsigned long long)sh->written[i], (unsigned long long)full.next[i]);
			ret = 1;
		}
		if (fol.next[i] != full.next[i]) {
			fail("writer %d: the follower saw %llu records, the file has %llu", i,
			     (unsigned long long)fol.next[i], (unsigned long long)full.next[i]);
			ret = 1;
		}
	}
	if (full.records != total_rec || fol.records != total_rec || fol.bytes != full.bytes) {
		fail("record counts: file %llu, follower %llu, writers %llu", (unsigned long long)full.records,
		     (unsigned long long)fol.records, (unsigned long long)total_rec);
		ret = 1;
	}
	if (lseek(fol.fd, 0, SEEK_CUR) != st.st_size) {
		fail("the follower's offset is %lld, the file size %lld", (long long)lseek(fol.fd, 0, SEEK_CUR),
		     (long long)st.st_size);
		ret = 1;
	}
	/* O_APPEND still in force: one more record lands at the very end */
	if (!ret && (append(wfd, 0, sh, buf) || lseek(wfd, 0, SEEK_CUR) != st.st_size + (off_t)
		     live_rec_len(sh->written[0] - 1, seeds[0], MIN_REC, MAX_REC))) {
		fail("the writer's fd lost O_APPEND (offset %lld after appending to a %lld byte file)",
		     (long long)lseek(wfd, 0, SEEK_CUR), (long long)st.st_size);
		ret = 1;
	}
	if (!ret)
		pass();
	return ret;
}
