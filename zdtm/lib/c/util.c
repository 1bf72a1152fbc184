/*
 * Small helpers for workloads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zdtmtst.h"

ssize_t read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = read(fd, (char *)buf + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ssize_t write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = write(fd, (const char *)buf + done, len - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int sock_getint(int sk, int level, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(sk, level, opt, &v, &len))
		return -1;
	return v;
}

int tcp_listen_loopback(int sk, int backlog, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(sk, (struct sockaddr *)addr, sizeof(*addr)) || listen(sk, backlog) ||
	    getsockname(sk, (struct sockaddr *)addr, &len))
		return -1;
	return 0;
}

int set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

static int fill_sun(struct sockaddr_un *sun, const char *path, socklen_t *len)
{
	size_t l = strlen(path);

	if (l >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, l);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + 1);
	return 0;
}

int unix_listen(const char *path, int type)
{
	struct sockaddr_un sun;
	socklen_t len;
	int sk, e;

	if (fill_sun(&sun, path, &len))
		return -1;
	sk = socket(AF_UNIX, type, 0);
	if (sk < 0)
		return -1;
	if (bind(sk, (struct sockaddr *)&sun, len))
		goto err;
	if (type != SOCK_DGRAM && listen(sk, 16))
		goto err;
	return sk;
err:
	e = errno;
	close(sk);
	errno = e;
	return -1;
}

int unix_connect(const char *path, int type)
{
	struct sockaddr_un sun;
	socklen_t len;
	int sk, e;

	if (fill_sun(&sun, path, &len))
		return -1;
	sk = socket(AF_UNIX, type, 0);
	if (sk < 0)
		return -1;
	if (connect(sk, (struct sockaddr *)&sun, len)) {
		e = errno;
		close(sk);
		errno = e;
		return -1;
	}
	return sk;
}

char *read_file(const char *path, size_t *lenp)
{
	size_t size = 4096, len = 0;
	char *buf = NULL, *nb;
	ssize_t r;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	for (;;) {
		nb = realloc(buf, size + 1);
		if (!nb)
			goto err;
		buf = nb;
		r = read_all(fd, buf + len, size - len);
		if (r < 0)
			goto err;
		len += (size_t)r;
		if (len < size)
			break;
		size *= 2;
	}
	close(fd);
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
err:
	e = errno;
	free(buf);
	close(fd);
	errno = e;
	return NULL;
}

pid_t test_fork_helper(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg) & 0xff);
	return pid;
}

int wait_exit_code(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

char *read_fdinfo(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return read_file(path, NULL);
}

char *fdinfo_lines(int fd, const char *prefix)
{
	char *info = read_fdinfo(fd), *p, *save = NULL, *out;
	size_t len = 0, plen = strlen(prefix);

	if (!info)
		return NULL;
	out = calloc(1, strlen(info) + 1);
	for (p = strtok_r(info, "\n", &save); p && out; p = strtok_r(NULL, "\n", &save))
		if (!strncmp(p, prefix, plen))
			len += sprintf(out + len, "%s\n", p);
	free(info);
	return out;
}

int sk_talks(int a, int b, const char *what)
{
	char buf[16];

	if (send(a, "ping", 4, MSG_NOSIGNAL) != 4 || recv(b, buf, sizeof(buf), MSG_DONTWAIT) != 4 ||
	    memcmp(buf, "ping", 4) || send(b, "pong", 4, MSG_NOSIGNAL) != 4 ||
	    recv(a, buf, sizeof(buf), MSG_DONTWAIT) != 4 || memcmp(buf, "pong", 4)) {
		fail("%s: the connection does not carry data both ways", what);
		return 1;
	}
	return 0;
}
