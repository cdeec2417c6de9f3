/*
 * A tally of payload destructor runs, for tests that attach payloads with
 * traceref_payload_set(): tally_destroy is the destructor (it may run on any
 * thread after the grace period), tally_runs reads how often it ran.
 */

#ifndef TRACEREF_TALLY_H
#define TRACEREF_TALLY_H

#include <pthread.h>

struct tally {
	int runs;
};

static pthread_mutex_t tally_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void tally_destroy(void *data)
{
	struct tally *t = data;

	pthread_mutex_lock(&tally_lock);
	t->runs++;
	pthread_mutex_unlock(&tally_lock);
}

static inline int tally_runs(struct tally *t)
{
	int n;

	pthread_mutex_lock(&tally_lock);
	n = t->runs;
	pthread_mutex_unlock(&tally_lock);
	return n;
}

#endif /* TRACEREF_TALLY_H */
