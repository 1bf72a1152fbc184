/*
 * threads_counter: threads keep updating shared counters under a mutex,
 * passing a token around a ring with condition variables, and bumping
 * atomics, while the process is checkpointed and restored.
 *
 * NTHREADS workers loop until told to stop:
 *   - under `lock`: own[i]++, total++, and a checksum of (i, own[i]) is
 *     xor-ed into `mix` - so total == sum(own) and mix == xor of all the
 *     per-thread checksums at every moment the lock is free;
 *   - without the lock: atomic_add(&atomic_total, 1) and a per-thread
 *     atomic count;
 *   - every 16th iteration: the token ring - wait (pthread_cond_wait) for
 *     token == i, increment the pass counter, hand the token to i+1 and
 *     broadcast; the ring stalls if a wake-up is lost.
 * A checker thread takes the lock continuously and verifies the invariants
 * (counts sum up, mix consistent), failing at the first violation.
 * Each worker also keeps a datagen buffer on its own stack and checks it
 * at the end (thread stacks must survive).
 *
 * At SIGTERM: stop flag, join everyone (a bounded wait: a thread stuck in
 * the ring after restore is a failure, not a hang), then check the
 * invariants once more, the atomics against the locked counts, the ring
 * pass count against the per-thread pass counts, and that every thread
 * made progress.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "live.h"
#include "zdtmtst.h"

#define NTHREADS 4

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;

static uint64_t own[NTHREADS], total, mix;
static uint64_t atomic_total, atomic_own[NTHREADS];
static int token;
static uint64_t ring_passes, my_passes[NTHREADS];
static volatile int stop, checker_failed;
static int done_count;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;

static uint64_t sig(int i, uint64_t n)
{
	return live_mix64(((uint64_t)i << 48) ^ n);
}

static void finished(void)
{
	pthread_mutex_lock(&done_lock);
	done_count++;
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&done_lock);
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	uint8_t stackbuf[16384];
	uint32_t crc = ~0u;
	uint64_t n = 0;
	intptr_t bad = 0;

	datagen(stackbuf, sizeof(stackbuf), &crc);
	while (!stop) {
		pthread_mutex_lock(&lock);
		own[i]++;
		total++;
		mix ^= sig(i, own[i]);
		pthread_mutex_unlock(&lock);

		__atomic_add_fetch(&atomic_total, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&atomic_own[i], 1, __ATOMIC_RELAXED);

		if (++n % 16 == 0) {
			pthread_mutex_lock(&ring_lock);
			while (token != i && !stop)
				pthread_cond_wait(&ring_cond, &ring_lock);
			if (token == i) {
				ring_passes++;
				my_passes[i]++;
				token = (i + 1) % NTHREADS;
				pthread_cond_broadcast(&ring_cond);
			}
			pthread_mutex_unlock(&ring_lock);
		}
	}
	crc = ~0u;
	if (datachk(stackbuf, sizeof(stackbuf), &crc))
		bad = 1;
	finished();
	return (void *)bad;
}

static void *checker(void *arg)
{
	uint64_t sum, x, rounds = 0;
	int i;

	(void)arg;
	while (!stop) {
		pthread_mutex_lock(&lock);
		sum = 0;
		for (i = 0; i < NTHREADS; i++)
			sum += own[i];
		if (sum != total) {
			fail("checker: total %llu != sum of the threads' counts %llu",
			     (unsigned long long)total, (unsigned long long)sum);
			checker_failed = 1;
		}
		if ((rounds++ & 63) == 0) { /* the full xor is O(total): now and then */
			uint64_t k;

			x = 0;
			for (i = 0; i < NTHREADS; i++)
				for (k = 1; k <= own[i]; k++)
					x ^= sig(i, k);
			if (x != mix) {
				fail("checker: the mix does not match the counts");
				checker_failed = 1;
			}
		}
		pthread_mutex_unlock(&lock);
		if (checker_failed)
			break;
		sched_yield();
	}
	finished();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS + 1];
	struct timespec deadline;
	uint64_t sum, asum, psum, k, x;
	void *res;
	int i, ret = 0, ready = 0;

	test_init(argc, argv);

	for (i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i)) {
			pr_perror("pthread_create");
			return 1;
		}
	if (pthread_create(&th[NTHREADS], NULL, checker, NULL)) {
		pr_perror("pthread_create");
		return 1;
	}

	while (!ready) {
		pthread_mutex_lock(&ring_lock);
		ready = ring_passes >= 4 * NTHREADS;
		pthread_mutex_unlock(&ring_lock);
		if (!ready)
			usleep(1000);
	}
	test_daemon();
	test_waitsig();

	stop = 1;
	pthread_mutex_lock(&ring_lock);
	pthread_cond_broadcast(&ring_cond);
	pthread_mutex_unlock(&ring_lock);

	/* bounded wait for all threads */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&done_lock);
	while (done_count < NTHREADS + 1)
		if (pthread_cond_timedwait(&done_cond, &done_lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&done_lock);
	if (done_count < NTHREADS + 1) {
		fail("only %d of %d threads finished within 10 s of the stop request", done_count, NTHREADS + 1);
		exit(1);
	}
	for (i = 0; i <= NTHREADS; i++) {
		pthread_join(th[i], &res);
		if (res) {
			fail("thread %d: its stack buffer was corrupted", i);
			ret = 1;
		}
	}
	if (checker_failed)
		ret = 1;

	sum = asum = psum = x = 0;
	for (i = 0; i < NTHREADS; i++) {
		sum += own[i];
		asum += atomic_own[i];
		psum += my_passes[i];
		for (k = 1; k <= own[i]; k++)
			x ^= sig(i, k);
		if (own[i] != atomic_own[i]) {
			fail("thread %d: %llu locked increments, %llu atomic ones", i,
			     (unsigned long long)own[i], (unsigned long long)atomic_own[i]);
			ret = 1;
		}
		if (own[i] < 16 || my_passes[i] == 0) {
			fail("thread %d made no progress (%llu increments, %llu ring passes)", i,
			     (unsigned long long)own[i], (unsigned long long)my_passes[i]);
			ret = 1;
		}
	}
	if (sum != total || asum != atomic_total || total != atomic_total) {
		fail("totals: locked %llu (sum %llu), atomic %llu (sum %llu)", (unsigned long long)total,
		     (unsigned long long)sum, (unsigned long long)atomic_total, (unsigned long long)asum);
		ret = 1;
	}
	if (x != mix) {
		fail("the mix does not match the final counts");
		ret = 1;
	}
	if (psum != ring_passes || (int)(ring_passes % NTHREADS) != token) {
		fail("ring: %llu passes (threads say %llu), token at %d", (unsigned long long)ring_passes,
		     (unsigned long long)psum, token);
		ret = 1;
	}
	test_msg("%llu increments, %llu ring passes", (unsigned long long)total, (unsigned long long)ring_passes);
	if (!ret)
		pass();
	return ret;
}
