/*
 * Output lines of a zdtm workload: "HH:MM:SS.mmm: <pid>: message".
 * Each line is written with one write(2) to stdout (the outfile), so lines
 * of threads and forked helpers never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zdtmtst.h"

#define LINE_MAX_LEN 4096

static size_t put_prefix(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, size, "%02d:%02d:%02d.%03ld: %d: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, (int)getpid());
	return n < 0 ? 0 : ((size_t)n >= size ? size - 1 : (size_t)n);
}

static size_t append(char *buf, size_t size, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t size, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (off >= size - 1)
		return off;
	va_start(ap, fmt);
	n = vsnprintf(buf + off, size - off, fmt, ap);
	va_end(ap);
	if (n < 0)
		return off;
	off += (size_t)n;
	return off >= size ? size - 1 : off;
}

static size_t vappend(char *buf, size_t size, size_t off, const char *fmt, va_list ap)
{
	int n;

	if (off >= size - 1)
		return off;
	n = vsnprintf(buf + off, size - off, fmt, ap);
	if (n < 0)
		return off;
	off += (size_t)n;
	if (off >= size)
		off = size - 1;
	/* the line's newline is ours */
	while (off > 0 && buf[off - 1] == '\n')
		off--;
	return off;
}

static void emit(char *buf, size_t off)
{
	buf[off++] = '\n';
	fflush(stdout);
	fflush(stderr);
	write_all(STDOUT_FILENO, buf, off);
}

static void vlog(const char *tag, const char *file, int line, int with_errno, int err,
		 const char *fmt, va_list ap)
{
	char buf[LINE_MAX_LEN + 1];
	size_t off, size = LINE_MAX_LEN;

	off = put_prefix(buf, size);
	if (tag) {
		const char *base = file ? strrchr(file, '/') : NULL;

		base = base ? base + 1 : file;
		if (base)
			off = append(buf, size, off, "%s: %s:%d: ", tag, base, line);
		else
			off = append(buf, size, off, "%s: ", tag);
	}
	off = vappend(buf, size, off, fmt, ap);
	if (with_errno && err)
		off = append(buf, size, off, " (errno = %d (%s))", err, strerror(err));
	emit(buf, off);
}

void zdtm_log_msg(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(NULL, NULL, 0, 0, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void zdtm_log_tagged(const char *tag, const char *file, int line, int with_errno, int err,
		     const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(tag, file, line, with_errno, err, fmt, ap);
	va_end(ap);
	errno = saved;
}

void zdtm_pass(void)
{
	int saved = errno;
	char buf[LINE_MAX_LEN + 1];
	size_t off;

	off = put_prefix(buf, LINE_MAX_LEN);
	off = append(buf, LINE_MAX_LEN, off, "PASS");
	emit(buf, off);
	errno = saved;
}

void zdtm_skip(const char *fmt, ...)
{
	char buf[LINE_MAX_LEN + 1];
	size_t off, size = LINE_MAX_LEN;
	va_list ap;

	off = put_prefix(buf, size);
	off = append(buf, size, off, "SKIP: ");
	va_start(ap, fmt);
	off = vappend(buf, size, off, fmt, ap);
	va_end(ap);
	emit(buf, off);

	if (zdtm_test_pid && getpid() != zdtm_test_pid)
		_exit(0); /* a forked helper */
	zdtm_skip_notify();
	exit(0);
}
