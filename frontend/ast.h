/* ast.h - the syntax tree the parser builds and sema consumes.
 *
 * Plain tagged unions allocated in the compilation's arena; every node has a
 * src_loc pointing at its first token (for binary operators: the operator),
 * so every diagnostic can put a caret under the right place.  The tree is
 * purely syntactic: names are unresolved strings, types are as written. */
#ifndef TILE_AST_H
#define TILE_AST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "support/arena.h"
#include "support/diag.h"

typedef struct ast_expr ast_expr;
typedef struct ast_stmt ast_stmt;
typedef struct ast_block ast_block;

typedef struct ast_list {     /* growable array of node pointers */
    void **items;
    int len, cap;
} ast_list;

/* ---- types as written -------------------------------------------------- */
typedef enum ast_type_kind {
    AST_TY_NAME,    /* bf16, f32, i32, ..., bool, or a const dtype name (T) */
    AST_TY_TENSOR,  /* tensor<ELEM>[dim, ...] */
    AST_TY_TUPLE,   /* (T, U) - fn results only */
    AST_TY_CONST,   /* const parameter kinds: int, float, bool, dtype, fn */
} ast_type_kind;

typedef enum ast_const_kind { AST_CK_INT, AST_CK_FLOAT, AST_CK_BOOL, AST_CK_DTYPE, AST_CK_FN } ast_const_kind;

typedef struct ast_type {
    ast_type_kind kind;
    src_loc loc;
    const char *name;           /* NAME: the dtype name; TENSOR: element dtype name */
    ast_list dims;              /* TENSOR: ast_expr* (ident or int literal) */
    ast_list elems;             /* TUPLE: ast_type* */
    ast_const_kind ckind;       /* CONST */
} ast_type;

/* ---- expressions ------------------------------------------------------- */
typedef enum ast_expr_kind {
    AST_INT,        /* 42 */
    AST_FLOAT,      /* 1.5, 1e-3 */
    AST_BOOL,       /* true / false */
    AST_STRING,     /* "label" (print, static_assert and assert only) */
    AST_NAME,       /* identifier */
    AST_UNARY,      /* op: '-', '!', '~' */
    AST_BINARY,     /* op: token kind of the operator, see ast_binop */
    AST_CALL,       /* callee(args..., name: value...) ; callee is any expr (usually NAME) */
    AST_INDEX,      /* base[idx, ...] : tensor view or tile [:, None] */
    AST_SLICE,      /* ':' or lo:hi(:step) inside an index (bounds NULL when absent) */
    AST_NONE,       /* None inside an index */
    AST_TUPLE,      /* (a, b) */
    AST_LIST,       /* [a, b] - shapes */
    AST_CAST,       /* cast<T>(x) */
    AST_AUTO,       /* `auto` (const parameter default) */
} ast_expr_kind;

typedef enum ast_binop {
    AST_OP_ADD, AST_OP_SUB, AST_OP_MUL, AST_OP_DIV, AST_OP_REM,
    AST_OP_SHL, AST_OP_SHR, AST_OP_BAND, AST_OP_BOR, AST_OP_BXOR,
    AST_OP_LAND, AST_OP_LOR,
    AST_OP_EQ, AST_OP_NE, AST_OP_LT, AST_OP_LE, AST_OP_GT, AST_OP_GE,
} ast_binop;

typedef enum ast_unop { AST_OP_NEG, AST_OP_NOT, AST_OP_BNOT } ast_unop;

typedef struct ast_arg {       /* call argument; name != NULL for `name: value` */
    const char *name;
    src_loc loc;
    ast_expr *value;
} ast_arg;

struct ast_expr {
    ast_expr_kind kind;
    src_loc loc;
    union {
        int64_t ival;                                       /* INT */
        double fval;                                        /* FLOAT */
        bool bval;                                          /* BOOL */
        const char *str;                                    /* STRING (unescaped), NAME */
        struct { ast_unop op; ast_expr *operand; } unary;
        struct { ast_binop op; ast_expr *lhs, *rhs; } binary;
        struct { ast_expr *callee; ast_list args; } call;   /* ast_arg* */
        struct { ast_expr *base; ast_list idx; } index;     /* ast_expr* */
        struct { ast_expr *lo, *hi, *step; } slice;         /* SLICE; all NULL for ':' */
        ast_list elems;                                     /* TUPLE, LIST: ast_expr* */
        struct { ast_type *to; ast_expr *operand; } cast;
    } u;
};

/* ---- statements -------------------------------------------------------- */
typedef enum ast_stmt_kind {
    AST_LET,        /* let x (: T)? = e;   let (a, b) = e; */
    AST_VAR,        /* var x (: T)? = e; */
    AST_ASSIGN,     /* x = e;  x op= e;  (op: compound operator or -1) */
    AST_ASSIGN_TUPLE, /* (a, b) = e; */
    AST_EXPR,       /* e; */
    AST_FOR,        /* for i in range(a, b, s) { } */
    AST_WHILE,      /* while c { } */
    AST_IF,         /* if c { } else { } / else if */
    AST_RETURN,     /* return e?; */
    AST_STATIC_ASSERT, /* static_assert(cond, "message"); */
    AST_ASSERT,     /* assert(cond, "message"); (checked at run time) */
    AST_BREAK,      /* break; */
    AST_CONTINUE,   /* continue; */
} ast_stmt_kind;

struct ast_block {
    src_loc loc;          /* the '{' */
    src_loc end;          /* the '}' */
    ast_list stmts;       /* ast_stmt* */
    ast_expr *value;      /* trailing expression without ';' (fn result), or NULL */
    bool continues;       /* made by the lowering of break/continue: the rest of an
                             enclosing block, so it shares that block's names */
};

struct ast_stmt {
    ast_stmt_kind kind;
    src_loc loc;
    union {
        struct { ast_list names; src_loc *name_locs; ast_type *type; ast_expr *init; bool tuple; } let; /* names: const char*; LET and VAR */
        struct { const char *name; src_loc name_loc; int op; /* -1 or ast_binop */ ast_expr *value; } assign;
        struct { ast_list targets; /* ast_expr* (AST_NAME), distinct */ ast_expr *value; } tassign;
        ast_expr *expr;                                                       /* EXPR, RETURN (may be NULL) */
        struct { const char *var; src_loc var_loc; ast_expr *lo, *hi, *step; ast_block *body; } for_; /* lo defaults 0, step 1: NULL when absent */
        struct { ast_expr *cond; ast_block *body; } while_;
        struct { ast_expr *cond; ast_block *then_; ast_block *else_; } if_;   /* else_ may be NULL; `else if` is a block holding one IF */
        struct { ast_expr *cond; const char *message; } sassert;          /* STATIC_ASSERT, ASSERT */
    } u;
};

/* ---- top level --------------------------------------------------------- */
typedef enum ast_param_kind {
    AST_PARAM_VALUE,      /* name: type  (runtime scalar, or fn param: type optional) */
    AST_PARAM_TENSOR,     /* name: [out] tensor<T>[dims] */
    AST_PARAM_CONST,      /* const name: kind [= default | auto] */
} ast_param_kind;

typedef struct ast_param {
    ast_param_kind kind;
    const char *name;
    src_loc loc;
    ast_type *type;       /* NULL for an untyped fn parameter */
    bool is_out;          /* tensor: `out` */
    ast_expr *deflt;      /* const default (AST_AUTO for `auto`), or NULL */
} ast_param;

typedef enum ast_item_kind {
    AST_ITEM_IMPORT,      /* import "path"; */
    AST_ITEM_CONST,       /* const NAME (: kind)? = expr; */
    AST_ITEM_FN,          /* fn name(params) (-> T)? { ... } */
    AST_ITEM_KERNEL,      /* kernel name(params) grid(e, ...) { ... } */
    AST_ITEM_SPEC,        /* kernel name(params)? = base(name: value, ...); */
} ast_item_kind;

typedef struct ast_item {
    ast_item_kind kind;
    src_loc loc;          /* the keyword */
    const char *name;     /* not for IMPORT */
    src_loc name_loc;
    const char *path;     /* IMPORT: as written */
    ast_type *const_type; /* CONST: declared kind or NULL */
    ast_expr *value;      /* CONST: initialiser */
    ast_list params;      /* FN, KERNEL, SPEC: ast_param* (SPEC: the parameters it adds) */
    ast_type *ret;        /* FN: result type or NULL */
    ast_list grid;        /* KERNEL: ast_expr* (1 to 3) */
    ast_block *body;      /* FN, KERNEL */
    const char *base;     /* SPEC: kernel specialised */
    src_loc base_loc;
    ast_list args;        /* SPEC: ast_arg* (named only) */
} ast_item;

typedef struct ast_file {
    const char *path;     /* as registered with diag_add_source */
    ast_list items;       /* ast_item* */
} ast_file;

/* Parses `text` (registered under `path` in d) into a file.  Returns the
 * tree, or NULL after reporting syntax errors into d (the parser recovers at
 * ';' and '}' to report several).  Never aborts on any input. */
ast_file *fe_parse(arena *mem, diag_ctx *d, const char *path, const char *text, size_t len);
/* fe_parse with the text's first character at (line, col) of `path`: a
 * -D value wrapped as "const __d = VALUE;" is located in the user's text
 * (col may be < 1 for the wrapper). */
ast_file *fe_parse_at(arena *mem, diag_ctx *d, const char *path, const char *text, size_t len,
                      int line, int col);

/* Prints the tree as an indented S-expression (tilec --emit=ast). */
void ast_print(FILE *out, const ast_file *f);

int ast_list_push(arena *mem, ast_list *l, void *item); /* 0 ok, -1 OOM */

/* The operator as written: "+", "<=", "&&" ... */
const char *ast_binop_text(ast_binop op);

#endif
