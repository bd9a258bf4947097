/* ast.c - syntax-tree utilities: list growth and the `tilec --emit=ast` dump.
 * (The parser itself, and fe_parse, live in parser.y.)
 *
 * The dump is an indented S-expression: one item, statement or parameter per
 * line, two spaces per level; expressions stay on one line.  Locations are
 * not printed, so the dump is stable under reformatting.
 *
 *   (file "flash.tile"
 *     (import "attention/masks.tile")
 *     (const N 64)                              ; const NAME = expr;
 *     (const B :int 4)                          ; const NAME: kind = expr;
 *     (fn f
 *       (params
 *         (param x)                             ; untyped fn parameter
 *         (param s :f32)                        ; runtime scalar
 *         (tensor q :bf16 [Z H M 64])           ; (tensor NAME :T [dims])
 *         (out tensor o :bf16 [Z H M 64])       ; `out tensor`
 *         (const D :int)                        ; const parameter
 *         (const BM :int = auto))               ; with default (auto or expr)
 *       (-> f32)                                ; result type; (-> (f32 i32)) tuple
 *       (block
 *         (let x (+ a 1))                       ; (let NAME [:T] EXPR)
 *         (let (a b) (tuple 1 2))               ; tuple pattern
 *         (var acc :f32 (call zeros (list BM D)))
 *         (= acc (* acc 2))                     ; assignment; also += -= *= /=
 *         (= (m l) (call step m l))             ; tuple assignment
 *         (for i (range lo hi step)             ; (range hi) / (range lo hi)
 *           (block ...))
 *         (while c (block ...))
 *         (if c (block ...) (else (block ...)))
 *         (return x)  (return)
 *         (static_assert (> D 0) "D must be positive")
 *         (assert (> n 0) "n must be positive")  ; checked at run time
 *         (expr (call store ...))               ; expression statement
 *         (value x)))                           ; trailing expression (fn result)
 *     (kernel k (params ...) (grid (call cdiv M BM) 1) (block ...))
 *     (spec my_attn flash_fwd (mask: causal) (D: 128))
 *     (spec doc_attn flash_fwd                   ; a specialisation adding parameters
 *       (params
 *         (tensor doc :i32 [Z N]))
 *       (mask: (call document (doc: doc)))))
 *
 * Expressions: literals print as written (42, 1.5, true, "text" with
 * escapes), names bare; (OP lhs rhs) for binary operators with the source
 * operator (+, <=, &&, ...); (neg x), (not x), (bnot x); (call f arg...)
 * where a named argument is (name: value); (index x i...) with `:` and
 * `None` as themselves; (tuple ...), (list ...), (cast T x), auto. */
#include "ast.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ast_list_push(arena *mem, ast_list *l, void *item)
{
    if (l->len == l->cap) {
        int cap = l->cap ? l->cap * 2 : 4;
        void **items = arena_alloc(mem, (size_t)cap * sizeof *items);
        if (!items) return -1;
        if (l->len) memcpy(items, l->items, (size_t)l->len * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = item;
    return 0;
}

static void indent(FILE *out, int level)
{
    fputc('\n', out);
    for (int i = 0; i < level; i++) fputs("  ", out);
}

static void print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; c && *c; c++) {
        switch (*c) {
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\\': fputs("\\\\", out); break;
        case '"': fputs("\\\"", out); break;
        default:
            if (*c < 32 || *c == 127) fprintf(out, "\\x%02x", *c);
            else fputc(*c, out);
        }
    }
    fputc('"', out);
}

const char *ast_binop_text(ast_binop op)
{
    static const char *const names[] = {
        [AST_OP_ADD] = "+", [AST_OP_SUB] = "-", [AST_OP_MUL] = "*", [AST_OP_DIV] = "/",
        [AST_OP_REM] = "%", [AST_OP_SHL] = "<<", [AST_OP_SHR] = ">>", [AST_OP_BAND] = "&",
        [AST_OP_BOR] = "|", [AST_OP_BXOR] = "^", [AST_OP_LAND] = "&&", [AST_OP_LOR] = "||",
        [AST_OP_EQ] = "==", [AST_OP_NE] = "!=", [AST_OP_LT] = "<", [AST_OP_LE] = "<=",
        [AST_OP_GT] = ">", [AST_OP_GE] = ">=",
    };
    return (unsigned)op < sizeof names / sizeof names[0] && names[op] ? names[op] : "?";
}

static void print_float(FILE *out, double v)
{
    char buf[64];
    if (isinf(v)) {
        fputs(v > 0 ? "inf" : "-inf", out);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        fprintf(out, "%.1f", v);
        return;
    }
    snprintf(buf, sizeof buf, "%.17g", v);
    /* Shortest form that reads back exactly. */
    for (int prec = 1; prec < 17; prec++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            memcpy(buf, tmp, sizeof tmp);
            break;
        }
    }
    fputs(buf, out);
    if (!strpbrk(buf, ".eEn")) fputs(".0", out);
}

static void print_expr(FILE *out, const ast_expr *e);

static void print_exprs(FILE *out, const ast_list *l)
{
    for (int i = 0; i < l->len; i++) {
        fputc(' ', out);
        print_expr(out, l->items[i]);
    }
}

static void print_type(FILE *out, const ast_type *t)
{
    if (!t) {
        fputs("?", out);
        return;
    }
    switch (t->kind) {
    case AST_TY_NAME:
    case AST_TY_CONST:
        fputs(t->name ? t->name : "?", out);
        break;
    case AST_TY_TENSOR:
        fprintf(out, "%s [", t->name ? t->name : "?");
        for (int i = 0; i < t->dims.len; i++) {
            if (i) fputc(' ', out);
            print_expr(out, t->dims.items[i]);
        }
        fputc(']', out);
        break;
    case AST_TY_TUPLE:
        fputc('(', out);
        for (int i = 0; i < t->elems.len; i++) {
            if (i) fputc(' ', out);
            print_type(out, t->elems.items[i]);
        }
        fputc(')', out);
        break;
    }
}

static void print_args(FILE *out, const ast_list *args)
{
    for (int i = 0; i < args->len; i++) {
        const ast_arg *a = args->items[i];
        fputc(' ', out);
        if (a->name) fprintf(out, "(%s: ", a->name);
        print_expr(out, a->value);
        if (a->name) fputc(')', out);
    }
}

static void print_expr(FILE *out, const ast_expr *e)
{
    if (!e) {
        fputs("?", out);
        return;
    }
    switch (e->kind) {
    case AST_INT: fprintf(out, "%" PRId64, e->u.ival); break;
    case AST_FLOAT: print_float(out, e->u.fval); break;
    case AST_BOOL: fputs(e->u.bval ? "true" : "false", out); break;
    case AST_STRING: print_string(out, e->u.str); break;
    case AST_NAME: fputs(e->u.str, out); break;
    case AST_UNARY:
        fprintf(out, "(%s ", e->u.unary.op == AST_OP_NEG ? "neg" : e->u.unary.op == AST_OP_NOT ? "not" : "bnot");
        print_expr(out, e->u.unary.operand);
        fputc(')', out);
        break;
    case AST_BINARY:
        fprintf(out, "(%s ", ast_binop_text(e->u.binary.op));
        print_expr(out, e->u.binary.lhs);
        fputc(' ', out);
        print_expr(out, e->u.binary.rhs);
        fputc(')', out);
        break;
    case AST_CALL:
        fputs("(call ", out);
        print_expr(out, e->u.call.callee);
        print_args(out, &e->u.call.args);
        fputc(')', out);
        break;
    case AST_INDEX:
        fputs("(index ", out);
        print_expr(out, e->u.index.base);
        print_exprs(out, &e->u.index.idx);
        fputc(')', out);
        break;
    case AST_SLICE:
        if (!e->u.slice.lo && !e->u.slice.hi && !e->u.slice.step) {
            fputc(':', out);
            break;
        }
        fputs("(slice", out);
        for (int i = 0; i < 3; i++) {
            const ast_expr *b = i == 0 ? e->u.slice.lo : i == 1 ? e->u.slice.hi : e->u.slice.step;
            fputc(' ', out);
            if (b) print_expr(out, b);
            else fputc('_', out);
        }
        fputc(')', out);
        break;
    case AST_NONE: fputs("None", out); break;
    case AST_TUPLE:
    case AST_LIST:
        fputs(e->kind == AST_TUPLE ? "(tuple" : "(list", out);
        print_exprs(out, &e->u.elems);
        fputc(')', out);
        break;
    case AST_CAST:
        fputs("(cast ", out);
        print_type(out, e->u.cast.to);
        fputc(' ', out);
        print_expr(out, e->u.cast.operand);
        fputc(')', out);
        break;
    case AST_AUTO: fputs("auto", out); break;
    }
}

static void print_block(FILE *out, const ast_block *b, int level);

static void print_stmt(FILE *out, const ast_stmt *s, int level)
{
    indent(out, level);
    switch (s->kind) {
    case AST_LET:
    case AST_VAR:
        fputs(s->kind == AST_LET ? "(let " : "(var ", out);
        if (s->u.let.tuple) {
            fputc('(', out);
            for (int i = 0; i < s->u.let.names.len; i++)
                fprintf(out, i ? " %s" : "%s", (const char *)s->u.let.names.items[i]);
            fputc(')', out);
        } else if (s->u.let.names.len > 0) {
            fputs(s->u.let.names.items[0], out);
        }
        if (s->u.let.type) {
            fputs(" :", out);
            print_type(out, s->u.let.type);
        }
        fputc(' ', out);
        print_expr(out, s->u.let.init);
        fputc(')', out);
        break;
    case AST_ASSIGN:
        fprintf(out, "(%s%s %s ", s->u.assign.op < 0 ? "" : ast_binop_text((ast_binop)s->u.assign.op), "=",
                s->u.assign.name);
        print_expr(out, s->u.assign.value);
        fputc(')', out);
        break;
    case AST_ASSIGN_TUPLE:
        fputs("(= (", out);
        for (int i = 0; i < s->u.tassign.targets.len; i++) {
            if (i) fputc(' ', out);
            print_expr(out, s->u.tassign.targets.items[i]);
        }
        fputs(") ", out);
        print_expr(out, s->u.tassign.value);
        fputc(')', out);
        break;
    case AST_EXPR:
        fputs("(expr ", out);
        print_expr(out, s->u.expr);
        fputc(')', out);
        break;
    case AST_FOR:
        fprintf(out, "(for %s (range", s->u.for_.var);
        if (s->u.for_.lo) {
            fputc(' ', out);
            print_expr(out, s->u.for_.lo);
        }
        fputc(' ', out);
        print_expr(out, s->u.for_.hi);
        if (s->u.for_.step) {
            fputc(' ', out);
            print_expr(out, s->u.for_.step);
        }
        fputc(')', out);
        print_block(out, s->u.for_.body, level + 1);
        fputc(')', out);
        break;
    case AST_WHILE:
        fputs("(while ", out);
        print_expr(out, s->u.while_.cond);
        print_block(out, s->u.while_.body, level + 1);
        fputc(')', out);
        break;
    case AST_IF:
        fputs("(if ", out);
        print_expr(out, s->u.if_.cond);
        print_block(out, s->u.if_.then_, level + 1);
        if (s->u.if_.else_) {
            indent(out, level + 1);
            fputs("(else", out);
            print_block(out, s->u.if_.else_, level + 2);
            fputc(')', out);
        }
        fputc(')', out);
        break;
    case AST_BREAK: fputs("(break)", out); break;
    case AST_CONTINUE: fputs("(continue)", out); break;
    case AST_RETURN:
        fputs("(return", out);
        if (s->u.expr) {
            fputc(' ', out);
            print_expr(out, s->u.expr);
        }
        fputc(')', out);
        break;
    case AST_STATIC_ASSERT:
    case AST_ASSERT:
        fputs(s->kind == AST_ASSERT ? "(assert " : "(static_assert ", out);
        print_expr(out, s->u.sassert.cond);
        fputc(' ', out);
        print_string(out, s->u.sassert.message);
        fputc(')', out);
        break;
    }
}

static void print_block(FILE *out, const ast_block *b, int level)
{
    indent(out, level);
    fputs("(block", out);
    if (b) {
        for (int i = 0; i < b->stmts.len; i++) print_stmt(out, b->stmts.items[i], level + 1);
        if (b->value) {
            indent(out, level + 1);
            fputs("(value ", out);
            print_expr(out, b->value);
            fputc(')', out);
        }
    }
    fputc(')', out);
}

static void print_params(FILE *out, const ast_list *params, int level)
{
    indent(out, level);
    fputs("(params", out);
    for (int i = 0; i < params->len; i++) {
        const ast_param *pa = params->items[i];
        indent(out, level + 1);
        switch (pa->kind) {
        case AST_PARAM_VALUE:
            fprintf(out, "(param %s", pa->name);
            if (pa->type) {
                fputs(" :", out);
                print_type(out, pa->type);
            }
            break;
        case AST_PARAM_TENSOR:
            fprintf(out, "(%stensor %s :", pa->is_out ? "out " : "", pa->name);
            print_type(out, pa->type);
            break;
        case AST_PARAM_CONST:
            fprintf(out, "(const %s :", pa->name);
            print_type(out, pa->type);
            if (pa->deflt) {
                fputs(" = ", out);
                print_expr(out, pa->deflt);
            }
            break;
        }
        fputc(')', out);
    }
    fputc(')', out);
}

static void print_item(FILE *out, const ast_item *it)
{
    indent(out, 1);
    switch (it->kind) {
    case AST_ITEM_IMPORT:
        fputs("(import ", out);
        print_string(out, it->path);
        break;
    case AST_ITEM_CONST:
        fprintf(out, "(const %s ", it->name);
        if (it->const_type) {
            fputc(':', out);
            print_type(out, it->const_type);
            fputc(' ', out);
        }
        print_expr(out, it->value);
        break;
    case AST_ITEM_FN:
        fprintf(out, "(fn %s", it->name);
        print_params(out, &it->params, 2);
        if (it->ret) {
            indent(out, 2);
            fputs("(-> ", out);
            print_type(out, it->ret);
            fputc(')', out);
        }
        print_block(out, it->body, 2);
        break;
    case AST_ITEM_KERNEL:
        fprintf(out, "(kernel %s", it->name);
        print_params(out, &it->params, 2);
        indent(out, 2);
        fputs("(grid", out);
        print_exprs(out, &it->grid);
        fputc(')', out);
        print_block(out, it->body, 2);
        break;
    case AST_ITEM_SPEC:
        fprintf(out, "(spec %s %s", it->name, it->base);
        if (it->params.len > 0) {
            print_params(out, &it->params, 2);
            indent(out, 2);
            for (int i = 0; i < it->args.len; i++) {
                const ast_arg *a = it->args.items[i];
                fprintf(out, "%s(%s: ", i ? " " : "", a->name ? a->name : "?");
                print_expr(out, a->value);
                fputc(')', out);
            }
            break;
        }
        print_args(out, &it->args);
        break;
    }
    fputc(')', out);
}

void ast_print(FILE *out, const ast_file *f)
{
    fputs("(file ", out);
    print_string(out, f->path ? f->path : "");
    for (int i = 0; i < f->items.len; i++) print_item(out, f->items.items[i]);
    fputs(")\n", out);
}
