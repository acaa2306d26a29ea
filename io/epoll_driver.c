/* The epoll backend of the driver interface (driver.h): not written yet. */
#include <errno.h>
#include <stddef.h>

#include "driver.h"

orca__driver *orca__epoll_driver_create(unsigned worker_index, int *err)
{
	(void)worker_index;
	*err = -ENOSYS;
	return NULL;
}
