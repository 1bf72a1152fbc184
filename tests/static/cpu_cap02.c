/* cpu_cap02: cpu_cap00's workload, restored with --cpu-cap=none (see cpu_cap00.c) */
#include "cpu_cap00.c"
