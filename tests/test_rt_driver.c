/* test_rt_driver.c - runtime/rt_driver.c without a GPU: every way of not
 * having a usable driver is TILE_ERR_NO_DEVICE with a reason (no library,
 * a library without the entry points, the CUDA toolkit's stub library that
 * answers cuInit with error 34), and the process-wide loader agrees. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/rt_driver.h"

static void test_missing_library(void **state)
{
    (void)state;
    rt_driver drv;
    char why[512];
    assert_int_equal(rt_driver_load(&drv, "libno_such_cuda.so.1", why, sizeof why), TILE_ERR_NO_DEVICE);
    assert_non_null(strstr(why, "no CUDA driver: cannot load libno_such_cuda.so.1"));
    assert_null(drv.lib);
}

static void test_library_without_entry_points(void **state)
{
    (void)state;
    rt_driver drv;
    char why[512];
    assert_int_equal(rt_driver_load(&drv, "libm.so.6", why, sizeof why), TILE_ERR_NO_DEVICE);
    assert_string_equal(why, "no usable CUDA driver: libm.so.6 lacks cuInit");
    assert_null(drv.lib);
}

static void test_stub_library(void **state)
{
    (void)state;
    const char *stubs[] = {"/usr/local/cuda/lib64/stubs/libcuda.so",
                           "/usr/local/cuda/targets/x86_64-linux/lib/stubs/libcuda.so"};
    const char *stub = NULL;
    for (size_t i = 0; i < 2 && !stub; i++)
        if (access(stubs[i], R_OK) == 0) stub = stubs[i];
    if (!stub) skip(); /* no CUDA toolkit here */
    rt_driver drv;
    char why[512];
    assert_int_equal(rt_driver_load(&drv, stub, why, sizeof why), TILE_ERR_NO_DEVICE);
    char want[600];
    snprintf(want, sizeof want, "no CUDA driver: %s is the toolkit's stub library", stub);
    assert_string_equal(why, want);
}

static void test_process_driver(void **state)
{
    (void)state;
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib) {
        dlclose(lib);
        skip(); /* a driver is installed: test_gpu covers it */
    }
    tile_status st;
    const char *why;
    assert_null(rt_driver_get(&st, &why));
    assert_int_equal(st, TILE_ERR_NO_DEVICE);
    assert_non_null(strstr(why, "cannot load libcuda.so.1"));
    assert_null(rt_driver_get(&st, &why)); /* loaded once, same answer */
    char buf[64];
    assert_string_equal(rt_cuda_error(NULL, 700, buf, sizeof buf), "CUDA error 700");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_library_without_entry_points),
        cmocka_unit_test(test_stub_library),
        cmocka_unit_test(test_process_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
