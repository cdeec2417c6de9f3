/*
 * C functions of the bench-only crate bench/rust-maps (scc's HashIndex and
 * papaya's HashMap from crates.io, used as the library uses its u64
 * table). Objects are the caller's; the first 32-bit word of each is its
 * count (1 = one reference), read and written by rm_*_get() and
 * rm_obj_put() only while the object is alive.
 */

#ifndef BENCH_RUST_MAPS_H
#define BENCH_RUST_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct rm_scc;
struct rm_papaya;

struct rm_scc *rm_scc_create(size_t capacity);
int rm_scc_insert(struct rm_scc *m, uint64_t key, void *obj);
void *rm_scc_get(struct rm_scc *m, uint64_t key);       /* guard, peek, get-unless-zero */
int rm_scc_remove(struct rm_scc *m, uint64_t key);
void rm_scc_destroy(struct rm_scc *m);

struct rm_papaya *rm_papaya_create(size_t capacity);
int rm_papaya_insert(struct rm_papaya *m, uint64_t key, void *obj);
void *rm_papaya_get(struct rm_papaya *m, uint64_t key); /* guard, get, get-unless-zero */
int rm_papaya_remove(struct rm_papaya *m, uint64_t key);
void rm_papaya_destroy(struct rm_papaya *m);

/* Drop a reference: 1 when it was the last, 0 otherwise, -1 on a count
 * already at zero. */
int rm_obj_put(void *obj);

#endif /* BENCH_RUST_MAPS_H */
