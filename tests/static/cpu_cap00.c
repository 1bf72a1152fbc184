/*
 * cpu_cap00: the FPU/SSE/AVX register state of a running thread survives
 * C/R under criu's CPU capability checks (--cpu-cap).
 *
 * Dumped with --cpu-cap=all (criu writes the CPU's features, xsave layout
 * and sizes into cpuinfo.img) and restored with the .desc's --cpu-cap:
 * cpu_cap00 fpu (criu checks the FPU features and xsave sizes the image asks
 * for), cpu_cap01 all (everything must match), cpu_cap02 none (no check).
 * cpu_cap01 and cpu_cap02 are this file with another .desc. What criu does
 * when the image asks for more than the CPU has is in
 * selftests/test_ext_scripts.py (a cpuinfo.img forged with crit).
 *
 * A thread spins in assembly, without a call or a syscall, over ymm0-ymm14
 * loaded with a pattern (xmm0-xmm14 without AVX), a non-default MXCSR
 * (rounding toward zero, flush-to-zero) and x87 control word, checking
 * them on every turn: C/R happens while it spins, so the registers are
 * exactly what criu saved and restored of its xsave area. After restore the
 * thread must still be spinning, and stops when told with nothing changed.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "zdtmtst.h"

#define NREGS 15
static uint8_t pattern[NREGS][32] __attribute__((aligned(32)));
static volatile int stop;
static volatile long turns;
static uint32_t mxcsr_want = 0x1f80 | (3 << 13) | (1 << 15);	/* masked, RZ, FTZ */
static uint16_t fpucw_want = 0x037f | (3 << 10);		/* default, RC = truncate */

#define YMM_CHECK(i, off)                                                    \
	"vxorps " #off "(%[p]), %%ymm" #i ", %%ymm15\n\t"                     \
	"vptest %%ymm15, %%ymm15\n\t"                                         \
	"jnz 2f\n\t"
#define XMM_CHECK(i, off)                                                    \
	"movdqa %%xmm" #i ", %%xmm15\n\t"                                     \
	"pcmpeqb " #off "(%[p]), %%xmm15\n\t"                                 \
	"pmovmskb %%xmm15, %%eax\n\t"                                         \
	"cmpl $0xffff, %%eax\n\t"                                             \
	"jne 2f\n\t"
#define CONTROL_CHECK                                                        \
	"stmxcsr %[mx]\n\t"                                                   \
	"movl %[mx], %%eax\n\t"                                               \
	"cmpl %[mxwant], %%eax\n\t"                                           \
	"jne 2f\n\t"                                                          \
	"fnstcw %[cw]\n\t"                                                    \
	"movzwl %[cw], %%eax\n\t"                                             \
	"movzwl %[cwwant], %%edx\n\t"                                         \
	"cmpl %%edx, %%eax\n\t"                                               \
	"jne 2f\n\t"
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
	"xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "rax", "rdx", "cc", "memory"

__attribute__((target("avx"))) static long spin_avx(void)
{
	long bad;
	uint32_t mx, saved_mx;
	uint16_t cw, saved_cw;

	asm volatile("stmxcsr %[smx]\n\tfnstcw %[scw]\n\t"
		     "ldmxcsr %[mxwant]\n\tfldcw %[cwwant]\n\t"
		     "vmovdqa 0(%[p]), %%ymm0\n\tvmovdqa 32(%[p]), %%ymm1\n\tvmovdqa 64(%[p]), %%ymm2\n\t"
		     "vmovdqa 96(%[p]), %%ymm3\n\tvmovdqa 128(%[p]), %%ymm4\n\tvmovdqa 160(%[p]), %%ymm5\n\t"
		     "vmovdqa 192(%[p]), %%ymm6\n\tvmovdqa 224(%[p]), %%ymm7\n\tvmovdqa 256(%[p]), %%ymm8\n\t"
		     "vmovdqa 288(%[p]), %%ymm9\n\tvmovdqa 320(%[p]), %%ymm10\n\tvmovdqa 352(%[p]), %%ymm11\n\t"
		     "vmovdqa 384(%[p]), %%ymm12\n\tvmovdqa 416(%[p]), %%ymm13\n\tvmovdqa 448(%[p]), %%ymm14\n\t"
		     "1:\n\t"
		     YMM_CHECK(0, 0) YMM_CHECK(1, 32) YMM_CHECK(2, 64) YMM_CHECK(3, 96) YMM_CHECK(4, 128)
		     YMM_CHECK(5, 160) YMM_CHECK(6, 192) YMM_CHECK(7, 224) YMM_CHECK(8, 256) YMM_CHECK(9, 288)
		     YMM_CHECK(10, 320) YMM_CHECK(11, 352) YMM_CHECK(12, 384) YMM_CHECK(13, 416)
		     YMM_CHECK(14, 448) CONTROL_CHECK
		     "lock incq %[turns]\n\t"
		     "cmpl $0, %[stop]\n\t"
		     "je 1b\n\t"
		     "xorl %%eax, %%eax\n\t"
		     "jmp 3f\n"
		     "2:\n\t"
		     "movl $1, %%eax\n"
		     "3:\n\t"
		     "vzeroupper\n\t"
		     "ldmxcsr %[smx]\n\tfldcw %[scw]\n\t"
		     "movq %%rax, %[bad]\n\t"
		     : [bad] "=m"(bad), [mx] "=m"(mx), [cw] "=m"(cw), [smx] "=m"(saved_mx), [scw] "=m"(saved_cw),
		       [turns] "+m"(turns)
		     : [p] "r"(pattern), [stop] "m"(stop), [mxwant] "m"(mxcsr_want), [cwwant] "m"(fpucw_want)
		     : CLOBBERS);
	return bad;
}

static long spin_sse(void)
{
	long bad;
	uint32_t mx, saved_mx;
	uint16_t cw, saved_cw;

	asm volatile("stmxcsr %[smx]\n\tfnstcw %[scw]\n\t"
		     "ldmxcsr %[mxwant]\n\tfldcw %[cwwant]\n\t"
		     "movdqa 0(%[p]), %%xmm0\n\tmovdqa 32(%[p]), %%xmm1\n\tmovdqa 64(%[p]), %%xmm2\n\t"
		     "movdqa 96(%[p]), %%xmm3\n\tmovdqa 128(%[p]), %%xmm4\n\tmovdqa 160(%[p]), %%xmm5\n\t"
		     "movdqa 192(%[p]), %%xmm6\n\tmovdqa 224(%[p]), %%xmm7\n\tmovdqa 256(%[p]), %%xmm8\n\t"
		     "movdqa 288(%[p]), %%xmm9\n\tmovdqa 320(%[p]), %%xmm10\n\tmovdqa 352(%[p]), %%xmm11\n\t"
		     "movdqa 384(%[p]), %%xmm12\n\tmovdqa 416(%[p]), %%xmm13\n\tmovdqa 448(%[p]), %%xmm14\n\t"
		     "1:\n\t"
		     XMM_CHECK(0, 0) XMM_CHECK(1, 32) XMM_CHECK(2, 64) XMM_CHECK(3, 96) XMM_CHECK(4, 128)
		     XMM_CHECK(5, 160) XMM_CHECK(6, 192) XMM_CHECK(7, 224) XMM_CHECK(8, 256) XMM_CHECK(9, 288)
		     XMM_CHECK(10, 320) XMM_CHECK(11, 352) XMM_CHECK(12, 384) XMM_CHECK(13, 416)
		     XMM_CHECK(14, 448) CONTROL_CHECK
		     "lock incq %[turns]\n\t"
		     "cmpl $0, %[stop]\n\t"
		     "je 1b\n\t"
		     "xorl %%eax, %%eax\n\t"
		     "jmp 3f\n"
		     "2:\n\t"
		     "movl $1, %%eax\n"
		     "3:\n\t"
		     "ldmxcsr %[smx]\n\tfldcw %[scw]\n\t"
		     "movq %%rax, %[bad]\n\t"
		     : [bad] "=m"(bad), [mx] "=m"(mx), [cw] "=m"(cw), [smx] "=m"(saved_mx), [scw] "=m"(saved_cw),
		       [turns] "+m"(turns)
		     : [p] "r"(pattern), [stop] "m"(stop), [mxwant] "m"(mxcsr_want), [cwwant] "m"(fpucw_want)
		     : CLOBBERS);
	return bad;
}

static int have_avx;

static void *spinner(void *arg)
{
	return (void *)(have_avx ? spin_avx() : spin_sse());
}

static long turns_after(long from)
{
	int i;

	for (i = 0; i < 5000 && turns == from; i++)
		usleep(1000);
	return turns;
}

int main(int argc, char **argv)
{
	pthread_t th;
	void *bad;
	long before;
	int i;

	test_init(argc, argv);
	for (i = 0; i < NREGS * 32; i++)
		((uint8_t *)pattern)[i] = (uint8_t)(i * 131 + 7 + (i >> 5) * 29);
	__builtin_cpu_init();
	have_avx = __builtin_cpu_supports("avx");
	test_msg("checking %s registers", have_avx ? "ymm" : "xmm");
	if (pthread_create(&th, NULL, spinner, NULL)) {
		pr_perror("pthread_create");
		return 1;
	}
	if (turns_after(0) == 0) {
		fail("the spinning thread never started");
		return 1;
	}

	test_daemon();
	test_waitsig();

	before = turns;
	if (turns_after(before) == before) {
		fail("the spinning thread does not run after restore (%ld turns)", before);
		return 1;
	}
	stop = 1;
	pthread_join(th, &bad);
	if (bad)
		fail("the thread saw its %s registers, MXCSR or x87 control word change (after %ld turns)",
		     have_avx ? "ymm" : "xmm", (long)turns);
	else
		pass();
	return 0;
}
