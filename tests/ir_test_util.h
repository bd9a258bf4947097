/* ir_test_util.h - the fixture shared by tests that build IR by hand
 * (test_ir.c, test_passes.c): a module in its own arena, the kernel
 *
 *   kernel @k(%x: tensor<f32>[N,8], %y: out tensor<f32>[N,8], %s: f32)
 *
 * whose grid yields 1, 1, 1, a builder at the end of its body, and the
 * printer captured into a string.  Everything is static inline, so a test
 * file uses what it needs without unused-function warnings.  Include it
 * after <cmocka.h>. */
#ifndef TILE_IR_TEST_UTIL_H
#define TILE_IR_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

typedef struct fx {
    arena mem;
    diag_ctx diags;
    ir_module *m;
    ir_func *k;      /* @k above, after make_kernel */
    ir_value *x, *y, *s;
    ir_builder b;    /* at the end of k's body */
} fx;

static inline int fx_setup(void **state)
{
    fx *t = calloc(1, sizeof *t);
    if (!t) return -1;
    arena_init(&t->mem);
    diag_init(&t->diags, &t->mem);
    t->m = ir_module_new(&t->mem, &t->diags);
    *state = t;
    return 0;
}

static inline int fx_teardown(void **state)
{
    fx *t = *state;
    arena_free(&t->mem);
    free(t);
    return 0;
}

static inline ir_value *add_param(ir_func *f, const char *name, ir_type ty)
{
    ir_param p = {.name = name, .type = ty};
    return ir_func_add_param(f, &p);
}

static inline ir_value *add_scalar(ir_func *f, const char *name, ir_dtype dt)
{
    return add_param(f, name, ir_type_scalar(dt));
}

/* A tensor parameter; dim i is named dim_names[i] (NULL: none) and has the
 * static size sizes[i] (-1: dynamic).  Either array may be NULL. */
static inline ir_value *add_tensor(ir_func *f, const char *name, ir_dtype dt, int rank,
                                   const char *const *dim_names, const int64_t *sizes, bool out)
{
    ir_param p = {.name = name, .type = ir_type_tensor(dt, rank), .is_out = out};
    for (int i = 0; i < rank; i++) {
        p.dims[i].name = dim_names ? dim_names[i] : NULL;
        p.dims[i].size = sizes ? sizes[i] : -1;
    }
    return ir_func_add_param(f, &p);
}

static inline void ret(ir_builder *b) { ir_build(b, IR_OP_RETURN, 0, NULL, 0, NULL, 0); }

static inline void yield(ir_builder *b, int n, ir_value *const *vs)
{
    ir_build(b, IR_OP_YIELD, n, vs, 0, NULL, 0);
}

/* Grid of f: yield 1, 1, 1. */
static inline void grid_ones(fx *t, ir_func *f)
{
    ir_builder g = {.m = t->m};
    ir_builder_at_end(&g, f->grid);
    ir_value *one = ir_const_int(&g, IR_I32, 1, 0, NULL);
    yield(&g, 3, (ir_value *[]){one, one, one});
}

static inline void make_kernel(fx *t)
{
    static const char *const dims[2] = {"N", NULL};
    static const int64_t sizes[2] = {-1, 8};
    t->k = ir_func_new(t->m, "k", IR_FUNC_KERNEL, (src_loc){"k.tile", 1, 1});
    t->x = add_tensor(t->k, "x", IR_F32, 2, dims, sizes, false);
    t->y = add_tensor(t->k, "y", IR_F32, 2, dims, sizes, true);
    t->s = add_scalar(t->k, "s", IR_F32);
    grid_ones(t, t->k);
    t->b = (ir_builder){.m = t->m};
    ir_builder_at_end(&t->b, t->k->body);
}

/* The printed form of a module or one function (malloc'd). */
static inline char *module_text(const ir_module *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    ir_print_module(fp, m);
    fclose(fp);
    return buf;
}

static inline char *func_text(const ir_func *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    ir_print_func(fp, f);
    fclose(fp);
    return buf;
}

static inline void assert_func_text(const ir_func *f, const char *want)
{
    char *got = func_text(f);
    if (strcmp(got, want) != 0) fprintf(stderr, "--- got:\n%s--- want:\n%s", got, want);
    assert_string_equal(got, want);
    free(got);
}

#endif
