/* A suid workload that adds a host iptables rule and never removes it. */
#include <stdlib.h>

#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (system("iptables -w -A INPUT -p tcp --dport 9 -m comment --comment \"zdtm selftest leak\" -j DROP")) {
		pr_err("iptables -A failed");
		return 1;
	}
	test_daemon();
	test_waitsig();
	pass();
	return 0;
}
