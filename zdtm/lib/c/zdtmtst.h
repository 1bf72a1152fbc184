/*
 * zdtmtst.h - the C workload library of the zdtm harness.
 *
 * A workload follows the ZDTM protocol (docs/zdtm-protocol.md):
 *
 *	int main(int argc, char **argv)
 *	{
 *		test_init(argc, argv);      // options, ids, outfile, fork
 *		... build the state ...
 *		test_daemon();              // "ready": the launcher exits 0
 *		test_waitsig();             // wait for SIGTERM (C/R happens here)
 *		... verify the state ...
 *		pass();                     // or fail("...")
 *		return 0;
 *	}
 *
 * The verdict is the last line of the output file: "PASS", "SKIP: ..." or
 * anything else (a failure).
 */
#ifndef ZDTM_ZDTMTST_H
#define ZDTM_ZDTMTST_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ------------------------------------------------------------------ */
/* Options: --name=value, declared by the test with TEST_OPTION().     */

enum zdtm_opt_type {
	ZDTM_OPT_string,
	ZDTM_OPT_int,
	ZDTM_OPT_uint,
	ZDTM_OPT_long,
	ZDTM_OPT_bool,
};

/* The C type of the variable behind each option type. */
typedef char *zdtm_opt_ctype_string;
typedef int zdtm_opt_ctype_int;
typedef unsigned int zdtm_opt_ctype_uint;
typedef long zdtm_opt_ctype_long;
typedef bool zdtm_opt_ctype_bool;

struct zdtm_option {
	const char *name;
	enum zdtm_opt_type type;
	void *ptr;
	const char *doc;
	int mandatory;
	int seen;
	struct zdtm_option *next;
};

void zdtm_register_option(struct zdtm_option *opt);

/*
 * TEST_OPTION(var, type, "doc", mandatory)
 *   declares the option --var for the global variable `var` (which the test
 *   defines itself).  type: string (char *), int, uint (unsigned int),
 *   long, bool (bool).  mandatory: non-zero => test_init() refuses to run
 *   without it.
 */
#define TEST_OPTION(_var, _type, _doc, _mandatory)                                      \
	static struct zdtm_option zdtm_opt__##_var = {                                 \
		.name = #_var,                                                         \
		.type = ZDTM_OPT_##_type,                                              \
		.ptr = &(_var),                                                        \
		.doc = (_doc),                                                         \
		.mandatory = (_mandatory),                                             \
	};                                                                             \
	static void __attribute__((constructor)) zdtm_opt_register__##_var(void)       \
	{                                                                              \
		zdtm_register_option(&zdtm_opt__##_var);                               \
	}                                                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(_var), zdtm_opt_ctype_##_type), \
		       "TEST_OPTION(" #_var "): the variable is not of the C type of '" #_type "'")

/* ------------------------------------------------------------------ */
/* Life cycle.                                                         */

/*
 * Parse options (--pidfile and --outfile are mandatory), switch to
 * ZDTM_GROUPS/ZDTM_GID/ZDTM_UID, make ourselves dumpable, redirect
 * stdin/stdout/stderr, fork.  Returns in the test process (a child, session
 * leader, SIGTERM handler installed).  The launching parent waits until
 * test_daemon(), writes the child's pid to the pidfile and exits 0; if the
 * child dies first it exits 1 (the outfile says why).
 */
void test_init(int argc, char **argv);

/* "My state is ready to be checkpointed." */
void test_daemon(void);

/* Block until SIGTERM has arrived (returns at once if it already has). */
void test_waitsig(void);

/* True while SIGTERM has not arrived (for live workloads). */
int test_go(void);

/* pid of the test process (the one test_init() returned in). */
extern pid_t zdtm_test_pid;

/* ------------------------------------------------------------------ */
/* Output.  Every line: "HH:MM:SS.mmm: <pid>: ..."                     */

void zdtm_log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void zdtm_log_tagged(const char *tag, const char *file, int line, int with_errno, int err,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void zdtm_pass(void);
/* internal: skip() before readiness */
void zdtm_skip_notify(void);
void zdtm_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* informational line */
#define test_msg(fmt, ...) zdtm_log_msg(fmt, ##__VA_ARGS__)
/* verdict PASS */
#define pass() zdtm_pass()
/* "FAIL: file:line: msg (errno = N (text))", the errno part only if errno != 0 */
#define fail(fmt, ...) \
	zdtm_log_tagged("FAIL", __FILE__, __LINE__, 1, errno, fmt, ##__VA_ARGS__)
/* "ERR: file:line: msg" */
#define pr_err(fmt, ...) \
	zdtm_log_tagged("ERR", __FILE__, __LINE__, 0, 0, fmt, ##__VA_ARGS__)
/* "ERR: file:line: msg (errno = N (text))" */
#define pr_perror(fmt, ...) \
	zdtm_log_tagged("ERR", __FILE__, __LINE__, 1, errno, fmt, ##__VA_ARGS__)
/*
 * "SKIP: reason" as the verdict line, then exit(0).  Before test_daemon()
 * the launcher then exits 1 and the outfile's last line is the SKIP line.
 */
#define skip(fmt, ...) zdtm_skip(fmt, ##__VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Data helpers.                                                       */

/* Standard CRC32 (IEEE, reflected): crc32_update(~0u, ...) ... then ~crc */
uint32_t zdtm_crc32_update(uint32_t crc, const void *buf, size_t len);
/* CRC32 of a whole buffer (as zlib's crc32(0, buf, len)) */
uint32_t zdtm_crc32(const void *buf, size_t len);

/*
 * datagen(): fill buf with pseudo-random bytes; the last 4 bytes hold the
 * CRC of the preceding len-4 bytes, so the buffer checks itself.
 * *crc: in: initial CRC register (use ~0u); out: the stored CRC.
 * datachk(): recompute from *crc (again ~0u) and compare with the stored one.
 * Returns 0 if the data is intact, 1 otherwise.  len must be >= 4.
 */
void datagen(void *buf, size_t len, uint32_t *crc);
int datachk(const void *buf, size_t len, uint32_t *crc);

/*
 * datagen2(): fill all len bytes; *crc := zdtm_crc32(buf, len) (keep it).
 * datachk2(): 0 iff zdtm_crc32(buf, len) == crc.
 */
void datagen2(void *buf, size_t len, uint32_t *crc);
int datachk2(const void *buf, size_t len, uint32_t crc);

/* ------------------------------------------------------------------ */
/* Task waiter: a futex in MAP_SHARED memory, for forked helpers.      */

typedef struct {
	uint32_t *word;
} task_waiter_t;

/* 0 on success, -1 (errno set) on failure */
int task_waiter_init(task_waiter_t *t);
void task_waiter_fini(task_waiter_t *t);
/* announce that `lockid` has been reached (lockid != 0) */
void task_complete(task_waiter_t *t, uint32_t lockid);
/* wait until `lockid` is announced */
void task_wait(task_waiter_t *t, uint32_t lockid);

/* ------------------------------------------------------------------ */
/* Small helpers.                                                      */

/* Loop over short reads/writes and EINTR.  Return bytes done (< len only at
 * EOF for read_all) or -1 on error. */
ssize_t read_all(int fd, void *buf, size_t len);
ssize_t write_all(int fd, const void *buf, size_t len);

int set_nonblock(int fd, int on);

/* AF_UNIX helpers: return an fd or -1 (errno set). */
int unix_listen(const char *path, int type);
int unix_connect(const char *path, int type);

/* getsockopt() of an int option: its value, or -1 on error. */
int sock_getint(int sk, int level, int opt);

/* Bind the AF_INET socket sk to 127.0.0.1 on a free port and listen(); the
 * bound address in *addr.  0, or -1 (errno set). */
struct sockaddr_in;
int tcp_listen_loopback(int sk, int backlog, struct sockaddr_in *addr);

/* Connected sockets a and b carry "ping" a->b and "pong" b->a (the data
 * must already be there: non-blocking receive).  0, or 1 after a fail()
 * naming `what`. */
int sk_talks(int a, int b, const char *what);

/* Read a whole small file (e.g. from /proc) into a malloc'ed, NUL-terminated
 * buffer; *lenp (optional) gets its length.  NULL on error. */
char *read_file(const char *path, size_t *lenp);

/* /proc/self/fdinfo/<fd>, malloc'ed (NULL on error); and only its lines
 * that start with `prefix`, each ending in a newline. */
char *read_fdinfo(int fd);
char *fdinfo_lines(int fd, const char *prefix);

/* fork() a helper that runs fn(arg) and _exit()s with its return value. */
pid_t test_fork_helper(int (*fn)(void *), void *arg);

/* waitpid() with EINTR handling; returns the exit code, or 128+signal,
 * or -1 on error. */
int wait_exit_code(pid_t pid);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* ZDTM_ZDTMTST_H */
