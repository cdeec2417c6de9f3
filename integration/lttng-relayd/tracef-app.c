/*
 * The traced application of run.sh's scenarios: `tracef-app TAG FIRST COUNT
 * [USLEEP_EVERY USLEEP]` calls tracef() COUNT times, the message of the k-th
 * call being "TAG seq=N" with N = FIRST + k, so that a viewer's output can be
 * checked for every event, in order. Every USLEEP_EVERY events it sleeps
 * USLEEP microseconds (0: never), to pace the producer.
 */
#include <lttng/tracef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *tag;
	long first, count, every = 0, pause_us = 0, k;

	if (argc < 4) {
		fprintf(stderr, "usage: %s TAG FIRST COUNT [USLEEP_EVERY USLEEP]\n", argv[0]);
		return 2;
	}
	tag = argv[1];
	first = strtol(argv[2], NULL, 10);
	count = strtol(argv[3], NULL, 10);
	if (argc >= 6) {
		every = strtol(argv[4], NULL, 10);
		pause_us = strtol(argv[5], NULL, 10);
	}
	for (k = 0; k < count; k++) {
		tracef("%s seq=%ld", tag, first + k);
		if (every > 0 && (k + 1) % every == 0)
			usleep((useconds_t)pause_us);
	}
	printf("%s: %ld events traced, seq %ld..%ld\n", tag, count, first, first + count - 1);
	return 0;
}
