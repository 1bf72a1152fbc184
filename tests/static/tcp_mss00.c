/*
 * tcp_mss00: an established TCP connection keeps its MSS across C/R.
 *
 * noauto: criu 4.2.1 restores every established TCP socket with an MSS of
 * 524 (536, TCP's default, less the timestamp option), whatever the path
 * allows (32768 before the dump over loopback here). soccr.c connects the repaired socket
 * first, which sizes the MSS (tcp_connect_init: the clamp is still 536),
 * and sets the dumped mss_clamp through TCP_REPAIR_OPTIONS afterwards,
 * which the kernel stores without computing the MSS again. The connection
 * then sends 524-byte segments for good: the upstream socket-tcpbuf-local
 * test, dumped while its receive buffer is still 128 KB, stalls after the
 * restore as that overhead closes its window (see zdtm.kinds.upstream
 * SETTLE).
 *
 * Checked after restore: TCP_MAXSEG of both ends is what it was before.
 * suid: TCP repair needs CAP_NET_ADMIN.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	int lsk, c, s, before_c, before_s, after_c, after_s;
	char buf[4];

	test_init(argc, argv);

	lsk = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (lsk < 0 || c < 0) {
		pr_perror("socket");
		return 1;
	}
	if (tcp_listen_loopback(lsk, 1, &addr) || connect(c, (struct sockaddr *)&addr, sizeof(addr))) {
		pr_perror("bind/listen/connect");
		return 1;
	}
	s = accept(lsk, NULL, NULL);
	if (s < 0) {
		pr_perror("accept");
		return 1;
	}
	close(lsk);
	if (send(c, "ping", 4, 0) != 4 || recv(s, buf, 4, MSG_WAITALL) != 4) {
		pr_perror("ping");
		return 1;
	}
	before_c = sock_getint(c, IPPROTO_TCP, TCP_MAXSEG);
	before_s = sock_getint(s, IPPROTO_TCP, TCP_MAXSEG);
	test_msg("MSS before: client %d, server %d\n", before_c, before_s);

	test_daemon();
	test_waitsig();

	after_c = sock_getint(c, IPPROTO_TCP, TCP_MAXSEG);
	after_s = sock_getint(s, IPPROTO_TCP, TCP_MAXSEG);
	if (after_c != before_c || after_s != before_s) {
		fail("MSS changed: client %d -> %d, server %d -> %d", before_c, after_c, before_s, after_s);
		return 1;
	}
	pass();
	return 0;
}
