/* Found before the compiler's <stdatomic.h> when a runtime file is compiled into a relacy
 * model: the C11 atomics come from ../relacy_c11.hpp, force-included into every model
 * translation unit. */
