/* A criu plugin that only announces itself: proves the crlib path (built
 * against criu-plugin.h, loaded through --libdir) works. */
#include <stdio.h>
#include "criu-plugin.h"

static int selftest_init(int stage)
{
	fprintf(stderr, "zdtm-selftest-plugin: init stage %d\n", stage);
	return 0;
}

static void selftest_fini(int stage, int ret)
{
}

CR_PLUGIN_REGISTER("zdtm_selftest", selftest_init, selftest_fini)
