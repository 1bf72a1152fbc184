/* Ready at once; on SIGTERM says so (a file in its work dir) and then takes
 * a minute to check its state: a run interrupted in the stop phase. */
#include <fcntl.h>
#include <unistd.h>
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	int fd;

	test_init(argc, argv);
	test_daemon();
	test_waitsig();
	fd = open("stopping", O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	sleep(60);
	pass();
	return 0;
}
