/* Sets up and then never says it is ready. */
#include <unistd.h>
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	test_msg("setting up forever");
	for (;;)
		pause();
	return 0;
}
