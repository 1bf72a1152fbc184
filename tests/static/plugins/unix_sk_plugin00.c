/*
 * criu plugin for unix_sk_plugin00: a UNIX stream connection to the
 * subscription service outside the tree (unix_sk_plugin00.peer).
 *
 * DUMP_UNIX_SK(fd, id): criu offers each socket whose peer it cannot dump.
 * Ours: AF_UNIX stream, its peer bound at a path ending in /sub.peer.sock.
 * The peer holds the connection's subscriptions; ask it for them ("LIST",
 * over the task's own socket: the task is frozen and its receive queue was
 * empty, criu checked) and save the peer's path and the topics in
 * "unix-peer-<id>.img" in the images dir. Anything else: -ENOTSUP.
 *
 * RESTORE_UNIX_SK(id): no such image: -ENOTSUP (not ours); else connect
 * to the saved path, replay each subscription ("SUB topic", each answered
 * "OK SUB topic n") and hand the socket to criu.
 *
 * The images are read at init, in criu's main process: the hook runs in
 * the task being restored, which in a user namespace can no longer open
 * the (root's) images.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "criu-plugin.h"

#define SOCK_SUFFIX "/sub.peer.sock"
#define LINE_MAX_LEN 512
#define MAX_SOCKETS 16

static struct saved {
	unsigned id;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char subs[LINE_MAX_LEN];
} saved[MAX_SOCKETS];
static int nr_saved;

static void img_name(char *buf, size_t len, int id)
{
	snprintf(buf, len, "unix-peer-%#x.img", (unsigned)id);
}

static int read_line(int sk, char *buf, size_t len)
{
	struct pollfd p = { .fd = sk, .events = POLLIN };
	size_t n = 0;

	while (n + 1 < len) {
		if (poll(&p, 1, 5000) != 1 || read(sk, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

static int ours(int fd, struct sockaddr_un *peer)
{
	socklen_t len = sizeof(*peer);
	int type;
	socklen_t tlen = sizeof(type);
	size_t n;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) || type != SOCK_STREAM)
		return 0;
	memset(peer, 0, sizeof(*peer));
	if (getpeername(fd, (struct sockaddr *)peer, &len) || peer->sun_family != AF_UNIX)
		return 0;
	n = strlen(peer->sun_path);
	return n > strlen(SOCK_SUFFIX) && !strcmp(peer->sun_path + n - strlen(SOCK_SUFFIX), SOCK_SUFFIX);
}

static int dump_unix_sk(int fd, int id)
{
	struct sockaddr_un peer;
	char name[64], subs[LINE_MAX_LEN];
	FILE *out;
	int img;

	if (!ours(fd, &peer))
		return -ENOTSUP;
	if (write(fd, "LIST\n", 5) != 5 || read_line(fd, subs, sizeof(subs)) || strncmp(subs, "SUBS", 4)) {
		fprintf(stderr, "unix_sk_plugin00: the peer at %s did not list the subscriptions of %#x\n",
			peer.sun_path, id);
		return -1;
	}
	img_name(name, sizeof(name), id);
	img = openat(criu_get_image_dir(), name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	out = img < 0 ? NULL : fdopen(img, "w");
	if (!out) {
		fprintf(stderr, "unix_sk_plugin00: can't create %s: %m\n", name);
		if (img >= 0)
			close(img);
		return -1;
	}
	fprintf(out, "%s\n%s\n", peer.sun_path, subs);
	if (fclose(out)) {
		fprintf(stderr, "unix_sk_plugin00: can't write %s: %m\n", name);
		return -1;
	}
	fprintf(stderr, "unix_sk_plugin00: dumped %#x: peer %s, %s\n", id, peer.sun_path, subs);
	return 0;
}

static int replay(int sk, char *subs)
{
	char req[LINE_MAX_LEN], reply[LINE_MAX_LEN], want[LINE_MAX_LEN];
	char *topic, *save = NULL;
	int n = 0;

	strtok_r(subs, " ", &save); /* "SUBS" */
	while ((topic = strtok_r(NULL, " ", &save))) {
		snprintf(req, sizeof(req), "SUB %s\n", topic);
		snprintf(want, sizeof(want), "OK SUB %s %d", topic, ++n);
		if (write(sk, req, strlen(req)) != (ssize_t)strlen(req) || read_line(sk, reply, sizeof(reply)) ||
		    strcmp(reply, want)) {
			fprintf(stderr, "unix_sk_plugin00: replaying 'SUB %s' failed\n", topic);
			return -1;
		}
	}
	return 0;
}

static int load_one(int dir, const char *name)
{
	struct saved *e = &saved[nr_saved];
	FILE *in;
	int img;

	if (nr_saved == MAX_SOCKETS) {
		fprintf(stderr, "unix_sk_plugin00: more than %d sockets\n", MAX_SOCKETS);
		return -1;
	}
	if (sscanf(name, "unix-peer-%x.img", &e->id) != 1)
		return 0;
	img = openat(dir, name, O_RDONLY | O_CLOEXEC);
	in = img < 0 ? NULL : fdopen(img, "r");
	if (!in || !fgets(e->path, sizeof(e->path), in) || !fgets(e->subs, sizeof(e->subs), in)) {
		fprintf(stderr, "unix_sk_plugin00: can't read %s\n", name);
		if (in)
			fclose(in);
		else if (img >= 0)
			close(img);
		return -1;
	}
	fclose(in);
	e->path[strcspn(e->path, "\n")] = '\0';
	e->subs[strcspn(e->subs, "\n")] = '\0';
	nr_saved++;
	return 0;
}

static int init(int stage)
{
	struct dirent *de;
	DIR *d;
	int dir, ret = 0;

	if (stage != CR_PLUGIN_STAGE__RESTORE)
		return 0;
	dir = dup(criu_get_image_dir());
	d = dir < 0 ? NULL : fdopendir(dir);
	if (!d) {
		fprintf(stderr, "unix_sk_plugin00: can't list the images: %m\n");
		return -1;
	}
	while (!ret && (de = readdir(d)))
		ret = load_one(dirfd(d), de->d_name);
	closedir(d);
	return ret;
}

static int restore_unix_sk(int id)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct saved *e = NULL;
	char subs[LINE_MAX_LEN];
	int i, sk;

	for (i = 0; i < nr_saved; i++)
		if (saved[i].id == (unsigned)id)
			e = &saved[i];
	if (!e)
		return -ENOTSUP;
	strcpy(addr.sun_path, e->path);
	strcpy(subs, e->subs);
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sk < 0 || connect(sk, (struct sockaddr *)&addr, sizeof(addr))) {
		fprintf(stderr, "unix_sk_plugin00: can't reconnect to %s: %m\n", addr.sun_path);
		if (sk >= 0)
			close(sk);
		return -1;
	}
	if (replay(sk, subs)) {
		close(sk);
		return -1;
	}
	/* Nothing printed on success: stderr may be the restored task's. */
	return sk;
}

static void fini(int stage, int ret)
{
}

CR_PLUGIN_REGISTER("zdtm_unix_sk_plugin00", init, fini)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_UNIX_SK, dump_unix_sk)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_UNIX_SK, restore_unix_sk)
