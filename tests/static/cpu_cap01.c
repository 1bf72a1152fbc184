/* cpu_cap01: cpu_cap00's workload, restored with --cpu-cap=all (see cpu_cap00.c) */
#include "cpu_cap00.c"
