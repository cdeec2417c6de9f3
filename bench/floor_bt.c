/*
 * The C11 atomic counters of baseline_bt.h behind a shared library
 * (libbenchfloor.so): what any library pays for bt_get/bt_put through a
 * call and a return, with nothing else. Workload 1 reports it beside the
 * inline baselines, as the floor for a library called through a .so.
 */

#include "baseline_bt.h"

void *floor_bt_get(void *obj);
void floor_bt_put(void *obj);

void *floor_bt_get(void *obj)
{
	return abt_get(obj);
}

void floor_bt_put(void *obj)
{
	abt_put(obj);
}
