/* fe_lower.h - private to the front end: the values, scopes and contexts of
 * the one walk that checks a program and lowers it to tile IR.
 *
 * Sema and lowering are one walk because shapes depend on constants: every
 * expression evaluates to an fe_val, which is either a compile-time constant
 * (folded on the spot), a runtime IR value, or one of the things only the
 * front end knows about (tensors, views, fn values, tuples).  An FE_ERR value
 * means "an error was already reported": every consumer passes it on
 * silently, so one mistake gives one diagnostic.
 *
 * Files: fe_load.c (sources, imports, global names, defines), fe_const.c
 * (constants), fe_lower_expr.c (operators, conversions, views),
 * fe_lower_builtin.c, fe_lower_call.c (fns, partial application),
 * fe_lower_stmt.c (statements, control flow), fe_lower_kernel.c (kernels,
 * specialisations, the public entry points, tilec check), fe_resolve.c
 * (name checks of what is not lowered: fns no kernel calls, kernels that
 * cannot be checked), fe_suggest.c ("did you mean"). */
#ifndef TILE_FE_LOWER_H
#define TILE_FE_LOWER_H

#include <stdbool.h>
#include <stdint.h>

#include "ast.h"
#include "frontend.h"

typedef enum fe_kind {
    FE_ERR,    /* already reported */
    FE_UNIT,   /* no value: store(), print(), an fn without results */
    FE_INT,    /* compile-time constants ... */
    FE_FLOAT,  /* f32-representable, held in a double */
    FE_BOOL,
    FE_DTYPE,
    FE_FN,
    FE_STR,
    FE_SHAPE,  /* [a, b]: a list of constant ints */
    FE_TILE,   /* a runtime IR value */
    FE_TENSOR, /* a kernel (or fn) tensor parameter */
    FE_VIEW,   /* tensor[idx...]: only for load/store/atomic_add */
    FE_TUPLE,
    FE_CAPTURE, /* a parameter of a kernel specialisation, named in its
                   arguments (u.s = its name): it can only be bound to an fn
                   parameter by partial application, and stands for the
                   kernel's parameter when the fn value is called */
} fe_kind;

typedef struct fe_val fe_val;
typedef struct fe_fnval fe_fnval;

typedef struct fe_tensor {
    ir_value *v;
    const char *name;
    ir_dtype dtype;
    int rank;
    ir_dim dims[IR_MAX_RANK];
    bool is_out;
} fe_tensor;

typedef struct fe_view {
    const fe_tensor *t;
    ir_value *idx[IR_MAX_RANK];
    int rank;                      /* of the view's shape */
    int64_t shape[IR_MAX_RANK];
} fe_view;

struct fe_val {
    fe_kind kind;
    bool weak;                     /* FE_TILE that came from a literal */
    bool i64;                      /* FE_INT computed with cast<i64>: i64, not
                                      i32, where no other operand decides */
    bool i32;                      /* FE_INT computed with cast<i32>: folds in
                                      i32, wrapping as the run-time value would */
    union {
        int64_t i;
        double f;
        bool b;
        ir_dtype dt;
        const char *s;
        const fe_fnval *fn;
        ir_value *v;
        const fe_tensor *t;
        const fe_view *view;
        struct { int n; fe_val *items; } tup;
        struct { int rank; int64_t *dims; } shape;
    } u;
};

/* An fn item with some parameters bound (partial application): const
 * parameters to constants, runtime parameters to FE_CAPTUREs. */
struct fe_fnval {
    const ast_item *item;
    int nbound;
    const char **names;
    fe_val *vals;
};

/* ---- scopes ------------------------------------------------------------ */
typedef enum fe_sym_kind {
    FE_SYM_LET, FE_SYM_VAR, FE_SYM_CONST, FE_SYM_PARAM, FE_SYM_LOOP, FE_SYM_DIM,
} fe_sym_kind;

typedef struct fe_sym {
    const char *name;
    fe_sym_kind kind;
    fe_val val;                    /* vars: the current value */
    src_loc loc;
    struct fe_sym *next;
} fe_sym;

typedef struct fe_scope {
    fe_sym *syms;
    struct fe_scope *parent;
    bool continues;                /* the rest of the parent's block (statements
                                      after a break/continue): same names */
} fe_scope;

/* The hidden vars that lower break and continue (names no source can spell). */
#define FE_BREAK_FLAG "%break"
#define FE_CONTINUE_FLAG "%continue"

/* What a captured specialisation parameter is in the function being
 * lowered: the kernel's parameter, or in an fn instance the hidden
 * parameter through which its caller passed it. */
typedef struct fe_capture {
    const char *name;
    fe_val val;                    /* FE_TENSOR or FE_TILE */
} fe_capture;

/* ---- globals ----------------------------------------------------------- */
typedef enum fe_global_kind { FE_G_CONST, FE_G_FN, FE_G_KERNEL, FE_G_SPEC } fe_global_kind;

typedef struct fe_global {
    const char *name;
    fe_global_kind kind;
    const ast_item *item;
    int state;                     /* consts: 0 new, 1 evaluating, 2 done;
                                      kernels and specs: 1 once checked;
                                      fns: 1 parameters ok, 2 not */
    fe_val val;
    void *spec;                    /* specs: their evaluated bindings */
    int define;                    /* consts: index of the define overriding it, or -1 */
    bool used;                     /* fns: instantiated; kernels: lowered */
    struct fe_global *next;        /* hash chain */
} fe_global;

typedef struct fe_def {            /* a -D NAME=VALUE, parsed */
    const char *name;
    const ast_expr *expr;          /* NULL if it did not parse */
    int state;                     /* 0 new, 1 evaluating, 2 done */
    fe_val val;
} fe_def;

typedef struct fe_check_line {    /* a `// tilec: -D ...` line of the root file */
    int line;
    fe_def *defs;
    int ndefs;
} fe_check_line;

typedef struct fe_inst {           /* one monomorphised fn */
    const char *key;
    ir_func *f;                    /* NULL if its body had errors */
    bool *weak_results;
    struct fe_inst *next;
} fe_inst;

typedef struct fe_deriv fe_deriv; /* a derivative fn built (fe_derive.c) */

typedef struct fe_frame {          /* the fn call chain, for recursion errors */
    const ast_item *fn;
    const char *fns;               /* its fn constants, printed */
    src_loc call;
    struct fe_frame *up;
} fe_frame;

typedef struct fe_ctx {
    arena *mem;
    diag_ctx *d;
    ir_module *m;
    const fe_options *opts;
    ptr_vec files;                 /* ast_file*, in load order */
    fe_global **gtab;              /* hash table of globals by name, chained; */
    size_t gtab_size;              /* grown with them (0: none yet) */
    ptr_vec globals;               /* fe_global*, in definition order */
    fe_def *defs;
    int ndefs;
    fe_inst *insts;
    fe_frame *stack;
    int depth;                     /* expression/statement nesting guard */
    bool checking;                 /* fe_check: unbound constants get representative values */
    bool bool_choice;              /* ... the one bools get (false, then true) */
    bool chose_bool;               /* ... and a bool constant was given it */
    const struct fe_check_line *line; /* the `// tilec:` line being checked, or NULL */
    const ast_item *spec_kernel;   /* while a spec's arguments are evaluated: */
    const char *spec_name;         /*   the kernel it specialises, and its name */
    fe_deriv *derivs;              /* derivative fns built so far */
    bool oom;
} fe_ctx;

/* The function being lowered (a kernel, an fn instance), or a constant
 * context (f == NULL: top-level consts, defaults, spec arguments, defines). */
typedef struct fe_func {
    fe_ctx *cx;
    ir_func *f;
    ir_builder b;
    fe_scope *scope;
    const ast_item *item;
    bool is_kernel;
    const fe_capture *caps;        /* captured parameters reachable here */
    int ncaps;
} fe_func;

/* ---- fe_load.c --------------------------------------------------------- */
tile_status fe_load_program(fe_ctx *cx, const char *path, const char *text);
fe_global *fe_global_find(fe_ctx *cx, const char *name);
bool fe_is_builtin_name(const char *name);
void fe_parse_defines(fe_ctx *cx);
/* Rewords syntax errors after `mark` in a value wrapped as "const __d = VALUE;". */
void fe_reword_wrapper(fe_ctx *cx, diag *mark);
/* Adds every top-level name, built-in, dtype and `inf` to s. */
void fe_suggest_globals(fe_ctx *cx, fe_suggest *s);
/* "; did you mean 'x'?" for an unknown name used in F (its scopes first),
 * or "". */
const char *fe_name_hint(fe_func *F, const char *name);
fe_def *fe_find_define(fe_ctx *cx, const char *name);
/* Evaluates a define's value (a constant expression), once. */
fe_val fe_define_value(fe_ctx *cx, fe_def *def);

/* ---- fe_const.c -------------------------------------------------------- */
bool fe_is_scalar_const(const fe_val *v);          /* INT FLOAT BOOL */
fe_val fe_err(void);
fe_val fe_unit(void);
fe_val fe_int(int64_t i);
fe_val fe_int_like(int64_t i, bool i64);            /* keeps an operand's .i64 */
ir_dtype fe_int_fold_dtype(const fe_val *a, const fe_val *b); /* b may be NULL */
fe_val fe_int_of(int64_t i, ir_dtype dt, bool i64);  /* tagged i32 when dt is */
bool fe_const_fits(fe_func *F, const fe_val *v, ir_dtype dt, src_loc loc);
fe_val fe_int_unary(ir_opcode code, fe_val a);       /* NEG, NOT, ABS in the fold dtype */
fe_val fe_float(double f);      /* not rounded: it is, once, when it meets a dtype */
fe_val fe_bool(bool b);
fe_val fe_dtype(ir_dtype t);
fe_val fe_tile(ir_value *v, bool weak);
/* "f32[64,32]", "int", "fn", "tensor 'q'" ... for messages. */
const char *fe_describe(fe_ctx *cx, const fe_val *v);
/* Printed form of a constant, as in -D: "128", "0.5", "true", "bf16",
 * "sliding_window(W: 64, S: 4)". */
const char *fe_const_str(fe_ctx *cx, const fe_val *v);
/* Folds a binary/unary operator on constants; reports at loc. */
fe_val fe_const_binary(fe_func *F, ast_binop op, fe_val a, fe_val b, src_loc loc);
fe_val fe_const_unary(fe_func *F, ast_unop op, fe_val a, src_loc loc);
enum { FE_CAT_BOOL, FE_CAT_INT, FE_CAT_FLOAT };   /* operand categories */
int fe_const_cat(const fe_val *v);
const char *fe_binop_verb(ast_binop op);           /* NULL: "apply 'op' to" */
ir_opcode fe_binop_ir(ast_binop op);
bool fe_binop_is_cmp(ast_binop op);
/* Why categories ca and cb cannot meet in op, or NULL when they can. */
const char *fe_binop_reason(fe_ctx *cx, ast_binop op, int ca, int cb);
/* "cannot add f32[64] and bool: REASON" */
void fe_binop_error(fe_func *F, ast_binop op, const fe_val *a, const fe_val *b,
                    const char *reason, src_loc loc);
/* Checks/converts a constant for a const parameter of kind k. */
bool fe_const_fits_kind(ast_const_kind k, fe_val *v);
const char *fe_ckind_name(ast_const_kind k);
ast_const_kind fe_param_ckind(const ast_param *p);  /* of a const parameter */
/* Top-level const `g`, evaluated on first use (with cycle detection). */
fe_val fe_global_const(fe_ctx *cx, fe_global *g, src_loc use);
void fe_eval_all_globals(fe_ctx *cx);
/* Evaluates `e` as a compile-time constant in the global scope (plus scope
 * `sc` if not NULL). */
fe_val fe_const_expr(fe_ctx *cx, fe_scope *sc, const ast_expr *e);

/* ---- fe_lower_expr.c --------------------------------------------------- */
fe_val fe_expr(fe_func *F, const ast_expr *e);
fe_val fe_binop(fe_func *F, ast_binop op, fe_val a, fe_val b, src_loc loc);
/* Reports why `v` is not usable as a tile operand; true if it is. */
bool fe_check_operand(fe_func *F, const fe_val *v, src_loc loc);
/* The dtype a constant or tile operand has (consts: their default dtype). */
ir_dtype fe_val_dtype(const fe_val *v);
int fe_val_rank(const fe_val *v);
/* A constant, or a tile computed only from constants (it takes the other
 * operand's dtype). */
bool fe_is_weak(const fe_val *v);
const int64_t *fe_val_shape(const fe_val *v);
/* Converts a constant or tile to an IR value of exactly dtype/shape (CONST
 * splat, CAST, BROADCAST).  NULL on OOM or outside a function. */
ir_value *fe_materialize(fe_func *F, const fe_val *v, ir_dtype dt, int rank,
                         const int64_t *shape, src_loc loc);
/* Materialises with the value's own dtype and shape. */
ir_value *fe_to_ir(fe_func *F, const fe_val *v, src_loc loc);
/* NumPy broadcast of two shapes; false if they do not broadcast. */
bool fe_broadcast_shapes(int ra, const int64_t *sa, int rb, const int64_t *sb, int *rr,
                         int64_t *sr);
bool fe_shape_ok(fe_func *F, int rank, const int64_t *shape, src_loc loc);
/* Dtype of a binary op between a and b (weak rules); false if they cannot mix. */
bool fe_promote(const fe_val *a, const fe_val *b, ir_dtype *dt, bool *weak);
/* Converts v for a destination of type dt/shape (assignment rules: broadcast
 * to the destination shape; only weak values change dtype); rank < 0 keeps
 * v's shape.  Error: "cannot VERB f32[64] TARGET of type bf16[64]". */
ir_value *fe_convert_to(fe_func *F, const fe_val *v, ir_dtype dt, int rank,
                        const int64_t *shape, src_loc loc, const char *verb, const char *target);
bool fe_need_ir(fe_func *F, src_loc loc, const char *what);
void fe_name_value(fe_val *v, const char *name);
void fe_oom(fe_ctx *cx);
/* Reports a nesting limit hit at loc (with a note when fn calls count in). */
void fe_too_deep(fe_ctx *cx, src_loc loc, const char *msg);
ir_op *fe_build(fe_func *F, src_loc loc, ir_opcode code, int n, ir_value *const *ops, int nres,
                const ir_type *types, int nblocks);
ir_value *fe_build1(fe_func *F, src_loc loc, ir_opcode code, int n, ir_value *const *ops,
                    ir_type t);
/* "unknown dtype 'fp32' (expected one of ...); did you mean 'f32'?" */
void fe_unknown_dtype(fe_ctx *cx, src_loc loc, const char *name);
/* Dtype named by an AST type (bf16 ... or a const dtype in scope). */
bool fe_type_dtype(fe_func *F, const ast_type *t, ir_dtype *out);
fe_sym *fe_lookup(fe_func *F, const char *name);
char *fe_shape_str(fe_ctx *cx, int rank, const int64_t *shape);

/* ---- fe_lower_builtin.c ------------------------------------------------ */
typedef struct fe_builtin fe_builtin;
const fe_builtin *fe_find_builtin(const char *name);
bool fe_builtin_arg_allowed(const fe_builtin *b, const char *arg);
const char *fe_builtin_name_at(int i);              /* NULL past the end */
void fe_suggest_builtin_args(const fe_builtin *b, fe_suggest *s);
fe_val fe_call_builtin(fe_func *F, const fe_builtin *b, const ast_expr *call);

/* A SLICE op: count elements of v along axis from start by step. */
ir_value *fe_slice(fe_func *F, src_loc loc, ir_value *v, int axis, int64_t start, int64_t step,
                   int64_t count);

/* ---- fe_lower_call.c --------------------------------------------------- */
fe_val fe_call_fn(fe_func *F, const fe_fnval *fn, const ast_expr *call);
/* Calls fn value `fn` with already evaluated positional arguments (filling
 * its unbound parameters in order), reporting at cloc. */
fe_val fe_call_fn_values(fe_func *F, const fe_fnval *fn, const fe_val *vals, int nvals,
                         src_loc cloc);
/* Reports parameters named twice and parameters or tensor dims named like a
 * built-in (kernels and fns); false if there were any. */
bool fe_check_param_names(fe_ctx *cx, const ast_item *it);
/* fe_check_param_names for fn item, once per fn. */
bool fe_check_fn(fe_ctx *cx, const ast_item *item);
fe_fnval *fe_fnval_of(fe_ctx *cx, const ast_item *item);
/* The value of captured parameter `name` in F, or NULL. */
const fe_val *fe_find_capture(const fe_func *F, const char *name);
/* Which operand of the CALL that fe_call_fn_values(F, fn, ...) emits holds
 * positional argument k (-1 if no parameter takes it). */
int fe_fn_arg_operand(const fe_fnval *fn, int k);

/* ---- fe_derive.c ------------------------------------------------------- */
/* derivative(fn, args..., wrt: k): calls fn on args and returns, instead of
 * its results, their derivatives with respect to args[k] (compiler-derived,
 * forward mode); loc is the built-in's name, locs the arguments'. */
fe_val fe_derivative(fe_func *F, const fe_fnval *fn, const fe_val *args, const src_loc *locs,
                     int nargs, int wrt, src_loc loc);
/* accumulate_grad(fn, args..., wrt: t, into: dt, seed: g, mask: m): adds
 * g * d fn(args...) / d t[idx] to dt[idx] for every element of t the fn
 * reads (compiler-derived, one forward sweep per load of t). */
typedef struct fe_grad {
    const fe_fnval *fn;
    const fe_val *args;
    int nargs;
    const fe_tensor *wrt, *into;
    const fe_val *seed, *mask;   /* mask may be NULL */
    src_loc loc, wrt_loc, seed_loc, mask_loc;
} fe_grad;
fe_val fe_accumulate_grad(fe_func *F, const fe_grad *g);

/* ---- fe_lower_stmt.c --------------------------------------------------- */
void fe_push_scope(fe_func *F);
void fe_pop_scope(fe_func *F);
fe_sym *fe_declare(fe_func *F, const char *name, fe_sym_kind kind, fe_val val, src_loc loc);
/* Lowers a block's statements in a new scope; *value receives the trailing
 * expression (fns) if value != NULL. */
void fe_block(fe_func *F, const ast_block *blk, fe_val *value, bool fn_body);
/* "'x' is declared with let and cannot be assigned" and friends. */
void fe_assign_error(fe_ctx *cx, const char *name, fe_sym_kind kind, src_loc loc);

/* ---- fe_lower_kernel.c ------------------------------------------------- */
/* Appends a note at loc to every error and warning reported after `mark`
 * (a diagnostic, or NULL for all), after its own notes: the context notes
 * of an error in an fn instance or a specialisation, innermost first. */
void fe_note_since(fe_ctx *cx, diag *mark, src_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- fe_mask.c --------------------------------------------------------- */
/* mask_kv_bounds / mask_q_bounds: args are z, h, lo, hi, M, N (the fixed
 * axis' block [lo, hi)); keys: the block is of rows and keys are bounded.
 * Returns a tuple of 8 i32 (two slots of lo, hi, full_lo, full_hi). */
fe_val fe_mask_bounds(fe_func *F, const fe_fnval *mask, const fe_val *args, bool keys, src_loc loc);
/* How many slots of fe_mask_bounds can be non-empty (1 or 2); -1 on error. */
int fe_mask_slots(fe_func *F, const fe_fnval *mask, src_loc loc);

/* ---- fe_resolve.c ------------------------------------------------------ */
void fe_resolve_item(fe_ctx *cx, const ast_item *item);

#endif
