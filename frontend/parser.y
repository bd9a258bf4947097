/* parser.y - the tile grammar (docs/language.md section 2) as a pure bison
 * LALR(1) parser that builds the ast.h tree in the compilation's arena.
 *
 * Design.  Expressions use precedence declarations (C's order: comparisons
 * bind tighter than & ^ |); everything else is plain rules whose actions
 * build nodes.  Counts the grammar cannot say nicely (grid 1..3, range 1..3,
 * tuples of 2+, named-after-positional arguments) are checked in actions,
 * so the messages can say what is wrong instead of "unexpected ','".
 *
 * Between flex and bison sits yylex() below, which keeps a stack of open
 * brackets.  It gives the error reporter its context ("expected ')' to close
 * call"), tells `const`/`fn` inside parentheses (parameters) apart from the
 * item keywords, and drives error recovery:
 *   - statements resync at ';' and at the '}' that closes their block;
 *   - items resync at ';', after a skipped { ... } body, or at the next
 *     item keyword;
 *   - a '{' that the parser throws away during recovery has its whole group
 *     skipped (T_BRACE_GROUP), so nested braces cannot end a block early;
 *   - `kernel`, `fn` or `import` while a block is still open means a '}' is
 *     missing: one error, then the blocks are closed for the parser.
 * Messages are built from the (LAC-exact) set of expected tokens plus that
 * context; bison's own rule (no new report until three tokens shift) stops
 * cascades.  Limits: parser stack YYMAXDEPTH, expression depth and block
 * depth FE_MAX_DEPTH; all report "nesting too deep". */
%define api.pure full
%locations
%define parse.error custom
%define parse.lac full
%param {fe_parser *p}

%code requires {
#include <ctype.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/ast.h"

/* An open bracket, as the token wrapper sees it. */
typedef struct fe_open {
    int ch;             /* '(', '[' or '{' */
    int ctx;            /* FE_CTX_* */
    int line, col;
    int saved_parens, saved_brackets; /* '{': counts of the enclosing level */
} fe_open;

/* State of one parse: everything the scanner and parser share (no globals). */
typedef struct fe_parser {
    arena *mem;
    diag_ctx *diags;
    const char *path;
    const char *text;
    size_t len;
    void *scanner;
    jmp_buf fatal;          /* out of memory / flex fatal error */
    int nerrors;
    ast_file *file;
    /* scanner position */
    int line, col;
    size_t offset, tok_offset, bad_run_end;
    bool eof_error;         /* an unterminated comment ran to the end */
    bool tok_bad_string;    /* the scanner's token is an unterminated string */
    bool last_bad_string, prev_bad_string; /* ... for the last two tokens returned */
    bool last_lex_error;    /* the last token returned carried a lexical error */
    bool too_deep;          /* "nesting too deep" reported */
    bool oom;
    /* token wrapper */
    int hist[3];            /* last three token kinds returned, [0] newest */
    int last_end_line, last_end_col;   /* end of the last real token */
    int prev_end_line, prev_end_col;   /* end of the one before */
    size_t last_tok_offset, last_tok_len;
    int item_kw;            /* last item keyword at depth 0 */
    int item_kw_before;     /* ... before the last token */
    fe_open *opens;
    int nopen, capopen;
    int nparens, nbrackets; /* open '(' / '[' above the innermost '{' */
    int brace_depth;
    fe_open before;         /* innermost open bracket before the last token */
    bool have_before, unmatched;
    bool skip_group;        /* a '{' was discarded: skip to its '}' */
    int synth_closes;       /* pending '}' tokens (a '}' was missing) */
    bool have_held;         /* a keyword or end of file to return next */
    int held_kind;
    int held_line, held_col, held_last_line, held_last_col;
    size_t held_offset, held_len;
} fe_parser;

enum { FE_CTX_NONE, FE_CTX_BLOCK, FE_CTX_CALL, FE_CTX_GROUP, FE_CTX_PARAMS,
       FE_CTX_GRID, FE_CTX_RANGE, FE_CTX_SASSERT, FE_CTX_ASSERT, FE_CTX_CAST, FE_CTX_RTYPE,
       FE_CTX_PATTERN, FE_CTX_INDEX, FE_CTX_LIST, FE_CTX_DIMS };

enum { FE_MAX_DEPTH = 1000 };
}

%code provides {
/* Shared by lexer.l and parser.y (internal to the front end). */
int fe_raw_lex(YYSTYPE *lval, YYLTYPE *lloc, void *scanner);
int fe_scan_begin(fe_parser *p);
void fe_scan_end(fe_parser *p);
void fe_error(fe_parser *p, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fe_fatal(fe_parser *p, const char *msg) __attribute__((noreturn));
void *fe_alloc(fe_parser *p, size_t size);
char *fe_strndup(fe_parser *p, const char *s, size_t n);
const char *fe_tok_text(fe_parser *p, size_t max);
void p_unterminated(fe_parser *p, const YYLTYPE *loc, const char *msg);
}

%union {
    int64_t ival;
    double fval;
    const char *str;
    int op;
    ast_expr *expr;
    ast_stmt *stmt;
    ast_block *block;
    ast_type *type;
    ast_param *param;
    ast_arg *arg;
    ast_item *item;
    ast_list list;
}

%code {
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define YYMAXDEPTH 10000
#ifndef YYNOMEM
#define YYNOMEM goto yyexhaustedlab
#endif

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, fe_parser *p);
static void yyerror(YYLTYPE *loc, fe_parser *p, const char *msg);

/* ---- node construction ------------------------------------------------ */

/* Every expression carries its depth (1 + deepest operand) just before it,
 * so the parser can refuse trees deep enough to exhaust the C stack of
 * whoever walks them recursively.  Only the parser reads it. */
typedef struct expr_box {
    int depth;
    ast_expr e;
} expr_box;

static src_loc L(const fe_parser *p, YYLTYPE l) { return (src_loc){p->path, l.first_line, l.first_column}; }

static int depth_of(const ast_expr *e)
{
    return e ? ((const expr_box *)(const void *)((const char *)e - offsetof(expr_box, e)))->depth : 0;
}

static ast_expr *mk_expr(fe_parser *p, ast_expr_kind kind, YYLTYPE loc, int child_depth)
{
    expr_box *b = fe_alloc(p, sizeof *b);
    b->depth = child_depth + 1;
    b->e.kind = kind;
    b->e.loc = L(p, loc);
    if (b->depth > FE_MAX_DEPTH && !p->too_deep) {
        p->too_deep = true;
        fe_error(p, b->e.loc, "nesting too deep");
    }
    return &b->e;
}

static int max_depth(const ast_list *l, bool args)
{
    int d = 0;
    for (int i = 0; i < l->len; i++) {
        const ast_expr *e = args ? ((const ast_arg *)l->items[i])->value : l->items[i];
        int x = depth_of(e);
        if (x > d) d = x;
    }
    return d;
}

static void push(fe_parser *p, ast_list *l, void *item)
{
    if (ast_list_push(p->mem, l, item) != 0) fe_fatal(p, "out of memory");
}

static ast_list list1(fe_parser *p, void *item)
{
    ast_list l = {0};
    push(p, &l, item);
    return l;
}

static ast_expr *mk_binary(fe_parser *p, ast_binop op, ast_expr *a, ast_expr *b, YYLTYPE loc)
{
    int d = depth_of(a) > depth_of(b) ? depth_of(a) : depth_of(b);
    ast_expr *e = mk_expr(p, AST_BINARY, loc, d);
    e->u.binary.op = op;
    e->u.binary.lhs = a;
    e->u.binary.rhs = b;
    return e;
}

static ast_expr *mk_unary(fe_parser *p, ast_unop op, ast_expr *a, YYLTYPE loc)
{
    ast_expr *e = mk_expr(p, AST_UNARY, loc, depth_of(a));
    e->u.unary.op = op;
    e->u.unary.operand = a;
    return e;
}

static ast_expr *mk_name(fe_parser *p, const char *name, YYLTYPE loc)
{
    ast_expr *e = mk_expr(p, AST_NAME, loc, 0);
    e->u.str = name;
    return e;
}

/* `lo:hi:step` in an index (any part may be absent); located at its start. */
static ast_expr *mk_slice(fe_parser *p, YYLTYPE loc, ast_expr *lo, ast_expr *hi, ast_expr *step)
{
    int d = depth_of(lo);
    if (depth_of(hi) > d) d = depth_of(hi);
    if (depth_of(step) > d) d = depth_of(step);
    ast_expr *e = mk_expr(p, AST_SLICE, loc, d);
    e->u.slice.lo = lo;
    e->u.slice.hi = hi;
    e->u.slice.step = step;
    return e;
}

static ast_arg *mk_arg(fe_parser *p, const char *name, YYLTYPE loc, ast_expr *value);

/* `a ** b` is the call pow(a, b) (a built-in name, so it cannot be shadowed),
 * located at the operator. */
static ast_expr *mk_pow(fe_parser *p, ast_expr *a, ast_expr *b, YYLTYPE loc)
{
    int d = depth_of(a) > depth_of(b) ? depth_of(a) : depth_of(b);
    ast_expr *e = mk_expr(p, AST_CALL, loc, d + 1);
    e->u.call.callee = mk_name(p, "pow", loc);
    e->u.call.args = (ast_list){0};
    push(p, &e->u.call.args, mk_arg(p, NULL, loc, a));
    push(p, &e->u.call.args, mk_arg(p, NULL, loc, b));
    return e;
}

static ast_expr *mk_int(fe_parser *p, int64_t v, YYLTYPE loc)
{
    ast_expr *e = mk_expr(p, AST_INT, loc, 0);
    e->u.ival = v;
    return e;
}

static ast_type *mk_type(fe_parser *p, ast_type_kind kind, const char *name, YYLTYPE loc)
{
    ast_type *t = fe_alloc(p, sizeof *t);
    t->kind = kind;
    t->name = name;
    t->loc = L(p, loc);
    return t;
}

static ast_type *mk_ckind(fe_parser *p, const char *name, YYLTYPE loc)
{
    static const char *const names[] = {"int", "float", "bool", "dtype", "fn"};
    ast_type *t = mk_type(p, AST_TY_CONST, name, loc);
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) {
            t->ckind = (ast_const_kind)i;
            return t;
        }
    fe_error(p, t->loc, "unknown constant kind '%s' (expected int, float, bool, dtype or fn)", name);
    return t;
}

static ast_stmt *mk_stmt(fe_parser *p, ast_stmt_kind kind, YYLTYPE loc)
{
    ast_stmt *s = fe_alloc(p, sizeof *s);
    s->kind = kind;
    s->loc = L(p, loc);
    return s;
}

static ast_block *mk_block(fe_parser *p, YYLTYPE open, YYLTYPE close, ast_list stmts, ast_expr *value)
{
    ast_block *b = fe_alloc(p, sizeof *b);
    b->loc = L(p, open);
    b->end = L(p, close);
    b->stmts = stmts;
    b->value = value;
    return b;
}

static ast_item *mk_item(fe_parser *p, ast_item_kind kind, YYLTYPE loc)
{
    ast_item *it = fe_alloc(p, sizeof *it);
    it->kind = kind;
    it->loc = L(p, loc);
    return it;
}

static ast_param *mk_param(fe_parser *p, ast_param_kind kind, const char *name, YYLTYPE loc)
{
    ast_param *pa = fe_alloc(p, sizeof *pa);
    pa->kind = kind;
    pa->name = name;
    pa->loc = L(p, loc);
    return pa;
}

/* names: AST_NAME expressions, split into the names and their locations. */
static ast_stmt *mk_let(fe_parser *p, ast_stmt_kind kind, YYLTYPE loc, ast_list names, bool tuple,
                        ast_type *type, ast_expr *init)
{
    ast_stmt *s = mk_stmt(p, kind, loc);
    s->u.let.name_locs = fe_alloc(p, (size_t)(names.len ? names.len : 1) * sizeof(src_loc));
    for (int i = 0; i < names.len; i++) {
        const ast_expr *n = names.items[i];
        s->u.let.name_locs[i] = n->loc;
        names.items[i] = (void *)n->u.str;
    }
    s->u.let.names = names;
    s->u.let.tuple = tuple;
    s->u.let.type = type;
    s->u.let.init = init;
    return s;
}

/* An argument list: positional arguments first, then named ones. */
static void add_arg(fe_parser *p, ast_list *args, ast_arg *a)
{
    if (!a->name && args->len > 0) {
        const ast_arg *last = args->items[args->len - 1];
        if (last->name)
            fe_error(p, a->loc, "positional argument after named argument '%s'", last->name);
    }
    push(p, args, a);
}

static ast_arg *mk_arg(fe_parser *p, const char *name, YYLTYPE loc, ast_expr *value)
{
    ast_arg *a = fe_alloc(p, sizeof *a);
    a->name = name;
    a->loc = L(p, loc);
    a->value = value;
    return a;
}

/* `kernel NAME(params)? = BASE(args);` */
static ast_item *mk_spec(fe_parser *p, YYLTYPE loc, const char *name, YYLTYPE name_loc,
                         const char *base, YYLTYPE base_loc, ast_list args, YYLTYPE close)
{
    ast_item *it = mk_item(p, AST_ITEM_SPEC, loc);
    it->name = name;
    it->name_loc = L(p, name_loc);
    it->base = base;
    it->base_loc = L(p, base_loc);
    it->args = args;
    if (args.len == 0) fe_error(p, L(p, close), "kernel specialisation '%s' binds no constants", name);
    for (int i = 0; i < args.len; i++) {
        const ast_arg *a = args.items[i];
        if (!a->name) {
            fe_error(p, a->loc, "a kernel specialisation takes only named arguments (name: value)");
            break;
        }
    }
    return it;
}

/* `(a, b) = e;`: the targets are the tuple's elements, distinct names. */
static ast_stmt *mk_tuple_assign(fe_parser *p, YYLTYPE loc, ast_expr *first, ast_list rest,
                                 int op, YYLTYPE op_loc, ast_expr *value)
{
    ast_stmt *s = mk_stmt(p, AST_ASSIGN_TUPLE, loc);
    push(p, &s->u.tassign.targets, first);
    for (int i = 0; i < rest.len; i++) push(p, &s->u.tassign.targets, rest.items[i]);
    s->u.tassign.value = value;
    if (op >= 0)
        fe_error(p, L(p, op_loc), "a tuple can only be assigned with '=', not '%s='",
                 ast_binop_text((ast_binop)op));
    const ast_list *t = &s->u.tassign.targets;
    for (int i = 0; i < t->len; i++) {
        const ast_expr *e = t->items[i];
        if (e->kind != AST_NAME) {
            fe_error(p, e->loc, "each target of a tuple assignment must be a variable name");
            continue;
        }
        for (int j = 0; j < i; j++) {
            const ast_expr *prev = t->items[j];
            if (prev->kind == AST_NAME && strcmp(prev->u.str, e->u.str) == 0) {
                fe_error(p, e->loc, "'%s' is assigned twice in one tuple assignment", e->u.str);
                break;
            }
        }
    }
    return s;
}

/* `let (a, b)`, `-> (T, U)`: at least two names. */
static void check_tuple(fe_parser *p, const ast_list *l, YYLTYPE loc, const char *msg)
{
    if (l->len < 2) fe_error(p, L(p, loc), "%s", msg);
}
}

%destructor { p->skip_group = true; } T_LBRACE

%token <str> T_NAME T_STRING
%token <ival> T_INT
%token <fval> T_FLOAT
%token KW_IMPORT KW_CONST KW_FN KW_KERNEL KW_GRID KW_LET KW_VAR KW_FOR KW_IN
       KW_RANGE KW_WHILE KW_IF KW_ELSE KW_RETURN KW_OUT KW_TENSOR KW_AUTO
       KW_TRUE KW_FALSE KW_NONE KW_CAST KW_STATIC_ASSERT KW_ASSERT
       KW_PCONST KW_PFN KW_BREAK KW_CONTINUE
%token <ival> T_LBRACE "{"     /* typed only so that it can have a %destructor */
%token T_LPAREN "(" T_RPAREN ")" T_LBRACKET "[" T_RBRACKET "]" T_RBRACE "}"
       T_COMMA "," T_SEMI ";" T_COLON ":" T_ASSIGN "=" T_ADD_ASSIGN "+=" T_SUB_ASSIGN "-="
       T_MUL_ASSIGN "*=" T_DIV_ASSIGN "/=" T_ARROW "->"
       T_OROR "||" T_ANDAND "&&" T_OR "|" T_XOR "^" T_AND "&" T_EQ "==" T_NE "!="
       T_LT "<" T_LE "<=" T_GT ">" T_GE ">=" T_SHL "<<" T_SHR ">>"
       T_PLUS "+" T_MINUS "-" T_STAR "*" T_SLASH "/" T_PERCENT "%" T_NOT "!" T_TILDE "~"
       T_POW "**"
%token T_BRACE_GROUP T_BAD

%left "||"
%left "&&"
%left "|"
%left "^"
%left "&"
%left "==" "!="
%left "<" "<=" ">" ">="
%left "<<" ">>"
%left "+" "-"
%left "*" "/" "%"

%type <expr> expr unary power postfix primary index_item const_default dim slice_bound
%type <list> grid range exprs index_items args args_opt params params_opt names type_names stmts dims grid_exprs
%type <arg> arg
%type <param> param
%type <type> ckind rtype_opt type_opt
%type <stmt> stmt if_stmt
%type <block> block
%type <item> item
%type <op> assign_op

%%

file
    : %empty
    | items
    ;

items
    : item                  { if ($1) push(p, &p->file->items, $1); }
    | items item            { if ($2) push(p, &p->file->items, $2); }
    ;

item
    : KW_IMPORT T_STRING ";" {
        $$ = mk_item(p, AST_ITEM_IMPORT, @1);
        $$->path = $2;
      }
    | KW_CONST T_NAME ":" ckind "=" expr ";" {
        $$ = mk_item(p, AST_ITEM_CONST, @1);
        $$->name = $2; $$->name_loc = L(p, @2);
        $$->const_type = $4;
        $$->value = $6;
      }
    | KW_CONST T_NAME "=" expr ";" {
        $$ = mk_item(p, AST_ITEM_CONST, @1);
        $$->name = $2; $$->name_loc = L(p, @2);
        $$->value = $4;
      }
    | KW_FN T_NAME "(" params_opt ")" rtype_opt block {
        $$ = mk_item(p, AST_ITEM_FN, @1);
        $$->name = $2; $$->name_loc = L(p, @2);
        $$->params = $4;
        $$->ret = $6;
        $$->body = $7;
      }
    | KW_KERNEL T_NAME "(" params_opt ")" grid block {
        $$ = mk_item(p, AST_ITEM_KERNEL, @1);
        $$->name = $2; $$->name_loc = L(p, @2);
        $$->params = $4;
        $$->grid = $6;
        $$->body = $7;
      }
    | KW_KERNEL T_NAME "=" T_NAME "(" args_opt ")" ";" {
        $$ = mk_spec(p, @1, $2, @2, $4, @4, $6, @7);
      }
    | KW_KERNEL T_NAME "(" params_opt ")" "=" T_NAME "(" args_opt ")" ";" {
        $$ = mk_spec(p, @1, $2, @2, $7, @7, $9, @10);
        $$->params = $4;
      }
    | error ";"             { $$ = NULL; }
    | error T_BRACE_GROUP   { $$ = NULL; yyerrok; }  /* a whole body skipped: clean restart */
    | error                 { $$ = NULL; }
    ;

grid
    : KW_GRID "(" grid_exprs ")" {
        $$ = $3;
        if ($3.len > 3)
            fe_error(p, ((ast_expr *)$3.items[3])->loc, "grid takes 1 to 3 dimensions, got %d", $3.len);
      }
    ;

grid_exprs
    : exprs
    | exprs ","
    ;

ckind
    : T_NAME                { $$ = mk_ckind(p, $1, @1); }
    | KW_FN                 { $$ = mk_ckind(p, "fn", @1); }
    | KW_PFN                { $$ = mk_ckind(p, "fn", @1); }
    ;

params_opt
    : %empty                { $$ = (ast_list){0}; }
    | params
    | params ","
    ;

params
    : param                 { $$ = list1(p, $1); }
    | params "," param      { $$ = $1; push(p, &$$, $3); }
    ;

param
    : KW_PCONST T_NAME ":" ckind const_default {
        $$ = mk_param(p, AST_PARAM_CONST, $2, @2);
        $$->type = $4;
        $$->deflt = $5;
      }
    | T_NAME ":" KW_TENSOR "<" T_NAME ">" "[" dims "]" {
        $$ = mk_param(p, AST_PARAM_TENSOR, $1, @1);
        $$->type = mk_type(p, AST_TY_TENSOR, $5, @3);
        $$->type->dims = $8;
      }
    | T_NAME ":" KW_OUT KW_TENSOR "<" T_NAME ">" "[" dims "]" {
        $$ = mk_param(p, AST_PARAM_TENSOR, $1, @1);
        $$->is_out = true;
        $$->type = mk_type(p, AST_TY_TENSOR, $6, @4);
        $$->type->dims = $9;
      }
    | T_NAME ":" T_NAME {
        $$ = mk_param(p, AST_PARAM_VALUE, $1, @1);
        $$->type = mk_type(p, AST_TY_NAME, $3, @3);
      }
    | T_NAME {
        $$ = mk_param(p, AST_PARAM_VALUE, $1, @1);
      }
    ;

const_default
    : %empty                { $$ = NULL; }
    | "=" expr              { $$ = $2; }
    | "=" KW_AUTO           { $$ = mk_expr(p, AST_AUTO, @2, 0); }
    ;

dims
    : dim                   { $$ = list1(p, $1); }
    | dims "," dim          { $$ = $1; push(p, &$$, $3); }
    ;

dim
    : T_NAME                { $$ = mk_name(p, $1, @1); }
    | T_INT                 { $$ = mk_int(p, $1, @1); }
    ;

rtype_opt
    : %empty                { $$ = NULL; }
    | "->" T_NAME           { $$ = mk_type(p, AST_TY_NAME, $2, @2); }
    | "->" "(" type_names ")" {
        $$ = mk_type(p, AST_TY_TUPLE, NULL, @2);
        $$->elems = $3;
        check_tuple(p, &$3, @4, "a result tuple needs at least two types");
      }
    ;

type_names
    : T_NAME                { $$ = list1(p, mk_type(p, AST_TY_NAME, $1, @1)); }
    | type_names "," T_NAME { $$ = $1; push(p, &$$, mk_type(p, AST_TY_NAME, $3, @3)); }
    ;

names
    : T_NAME                { $$ = list1(p, mk_name(p, $1, @1)); }
    | names "," T_NAME      { $$ = $1; push(p, &$$, mk_name(p, $3, @3)); }
    ;

block
    : "{" "}"               { (void)$1; $$ = mk_block(p, @1, @2, (ast_list){0}, NULL); }
    | "{" stmts "}"         { (void)$1; $$ = mk_block(p, @1, @3, $2, NULL); }
    | "{" expr "}"          { (void)$1; $$ = mk_block(p, @1, @3, (ast_list){0}, $2); }
    | "{" stmts expr "}"    { (void)$1; $$ = mk_block(p, @1, @4, $2, $3); }
    | "{" error "}"         { (void)$1; $$ = mk_block(p, @1, @3, (ast_list){0}, NULL); }
    | "{" stmts error "}"   { (void)$1; $$ = mk_block(p, @1, @4, $2, NULL); }
    ;

stmts
    : stmt                  { $$ = (ast_list){0}; if ($1) push(p, &$$, $1); }
    | stmts stmt            { $$ = $1; if ($2) push(p, &$$, $2); }
    ;

type_opt
    : %empty                { $$ = NULL; }
    | ":" T_NAME            { $$ = mk_type(p, AST_TY_NAME, $2, @2); }
    ;

stmt
    : KW_LET T_NAME type_opt "=" expr ";" {
        $$ = mk_let(p, AST_LET, @1, list1(p, mk_name(p, $2, @2)), false, $3, $5);
      }
    | KW_LET "(" names ")" "=" expr ";" {
        check_tuple(p, &$3, @4, "a tuple pattern needs at least two names");
        $$ = mk_let(p, AST_LET, @1, $3, true, NULL, $6);
      }
    | KW_VAR T_NAME type_opt "=" expr ";" {
        $$ = mk_let(p, AST_VAR, @1, list1(p, mk_name(p, $2, @2)), false, $3, $5);
      }
    | "(" expr "," exprs ")" assign_op expr ";" {
        $$ = mk_tuple_assign(p, @1, $2, $4, $6, @6, $7);
      }
    | T_NAME assign_op expr ";" {
        $$ = mk_stmt(p, AST_ASSIGN, @1);
        $$->u.assign.name = $1;
        $$->u.assign.name_loc = L(p, @1);
        $$->u.assign.op = $2;
        $$->u.assign.value = $3;
      }
    | KW_FOR T_NAME KW_IN range block {
        $$ = mk_stmt(p, AST_FOR, @1);
        $$->u.for_.var = $2;
        $$->u.for_.var_loc = L(p, @2);
        $$->u.for_.body = $5;
        ast_expr **a = (ast_expr **)$4.items;
        switch ($4.len) {
        case 1: $$->u.for_.hi = a[0]; break;
        case 2: $$->u.for_.lo = a[0]; $$->u.for_.hi = a[1]; break;
        default: $$->u.for_.lo = a[0]; $$->u.for_.hi = a[1]; $$->u.for_.step = a[2]; break;
        }
      }
    | KW_WHILE expr block {
        $$ = mk_stmt(p, AST_WHILE, @1);
        $$->u.while_.cond = $2;
        $$->u.while_.body = $3;
      }
    | if_stmt
    | KW_RETURN expr ";" {
        $$ = mk_stmt(p, AST_RETURN, @1);
        $$->u.expr = $2;
      }
    | KW_RETURN ";"         { $$ = mk_stmt(p, AST_RETURN, @1); }
    | KW_STATIC_ASSERT "(" expr "," T_STRING ")" ";" {
        $$ = mk_stmt(p, AST_STATIC_ASSERT, @1);
        $$->u.sassert.cond = $3;
        $$->u.sassert.message = $5;
      }
    | KW_ASSERT "(" expr "," T_STRING ")" ";" {
        $$ = mk_stmt(p, AST_ASSERT, @1);
        $$->u.sassert.cond = $3;
        $$->u.sassert.message = $5;
      }
    | KW_BREAK ";"          { $$ = mk_stmt(p, AST_BREAK, @1); }
    | KW_CONTINUE ";"       { $$ = mk_stmt(p, AST_CONTINUE, @1); }
    | expr ";" {
        $$ = mk_stmt(p, AST_EXPR, @1);
        $$->u.expr = $1;
      }
    | error ";"             { $$ = NULL; }
    ;

range
    : KW_RANGE "(" exprs ")" {
        $$ = $3;
        if ($3.len > 3)
            fe_error(p, ((ast_expr *)$3.items[3])->loc, "range takes 1 to 3 arguments, got %d", $3.len);
      }
    ;

if_stmt
    : KW_IF expr block {
        $$ = mk_stmt(p, AST_IF, @1);
        $$->u.if_.cond = $2;
        $$->u.if_.then_ = $3;
      }
    | KW_IF expr block KW_ELSE block {
        $$ = mk_stmt(p, AST_IF, @1);
        $$->u.if_.cond = $2;
        $$->u.if_.then_ = $3;
        $$->u.if_.else_ = $5;
      }
    | KW_IF expr block KW_ELSE if_stmt {
        $$ = mk_stmt(p, AST_IF, @1);
        $$->u.if_.cond = $2;
        $$->u.if_.then_ = $3;
        /* `else if`: an else block holding the one IF */
        const ast_stmt *inner = $5;
        const ast_block *last = inner->u.if_.else_ ? inner->u.if_.else_ : inner->u.if_.then_;
        ast_block *b = fe_alloc(p, sizeof *b);
        b->loc = inner->loc;
        b->end = last->end;
        push(p, &b->stmts, $5);
        $$->u.if_.else_ = b;
      }
    ;

assign_op
    : "="                   { $$ = -1; }
    | "+="                  { $$ = AST_OP_ADD; }
    | "-="                  { $$ = AST_OP_SUB; }
    | "*="                  { $$ = AST_OP_MUL; }
    | "/="                  { $$ = AST_OP_DIV; }
    ;

exprs
    : expr                  { $$ = list1(p, $1); }
    | exprs "," expr        { $$ = $1; push(p, &$$, $3); }
    ;

expr
    : expr "||" expr        { $$ = mk_binary(p, AST_OP_LOR, $1, $3, @2); }
    | expr "&&" expr        { $$ = mk_binary(p, AST_OP_LAND, $1, $3, @2); }
    | expr "|" expr         { $$ = mk_binary(p, AST_OP_BOR, $1, $3, @2); }
    | expr "^" expr         { $$ = mk_binary(p, AST_OP_BXOR, $1, $3, @2); }
    | expr "&" expr         { $$ = mk_binary(p, AST_OP_BAND, $1, $3, @2); }
    | expr "==" expr        { $$ = mk_binary(p, AST_OP_EQ, $1, $3, @2); }
    | expr "!=" expr        { $$ = mk_binary(p, AST_OP_NE, $1, $3, @2); }
    | expr "<" expr         { $$ = mk_binary(p, AST_OP_LT, $1, $3, @2); }
    | expr "<=" expr        { $$ = mk_binary(p, AST_OP_LE, $1, $3, @2); }
    | expr ">" expr         { $$ = mk_binary(p, AST_OP_GT, $1, $3, @2); }
    | expr ">=" expr        { $$ = mk_binary(p, AST_OP_GE, $1, $3, @2); }
    | expr "<<" expr        { $$ = mk_binary(p, AST_OP_SHL, $1, $3, @2); }
    | expr ">>" expr        { $$ = mk_binary(p, AST_OP_SHR, $1, $3, @2); }
    | expr "+" expr         { $$ = mk_binary(p, AST_OP_ADD, $1, $3, @2); }
    | expr "-" expr         { $$ = mk_binary(p, AST_OP_SUB, $1, $3, @2); }
    | expr "*" expr         { $$ = mk_binary(p, AST_OP_MUL, $1, $3, @2); }
    | expr "/" expr         { $$ = mk_binary(p, AST_OP_DIV, $1, $3, @2); }
    | expr "%" expr         { $$ = mk_binary(p, AST_OP_REM, $1, $3, @2); }
    | unary
    ;

unary
    : "-" unary             { $$ = mk_unary(p, AST_OP_NEG, $2, @1); }
    | "!" unary             { $$ = mk_unary(p, AST_OP_NOT, $2, @1); }
    | "~" unary             { $$ = mk_unary(p, AST_OP_BNOT, $2, @1); }
    | power
    ;

/* a ** b is pow(a, b): binds tighter than unary minus on its left, takes a
 * unary operand on its right, right-associative (-x ** 2 == -(x ** 2)). */
power
    : postfix
    | postfix "**" unary    { $$ = mk_pow(p, $1, $3, @2); }
    ;

postfix
    : primary
    | postfix "(" args_opt ")" {
        $$ = mk_expr(p, AST_CALL, @1, depth_of($1) > max_depth(&$3, true) ? depth_of($1) : max_depth(&$3, true));
        $$->u.call.callee = $1;
        $$->u.call.args = $3;
      }
    | postfix "[" index_items "]" {
        $$ = mk_expr(p, AST_INDEX, @1, depth_of($1) > max_depth(&$3, false) ? depth_of($1) : max_depth(&$3, false));
        $$->u.index.base = $1;
        $$->u.index.idx = $3;
      }
    ;

args_opt
    : %empty                { $$ = (ast_list){0}; }
    | args
    | args ","
    ;

args
    : arg                   { $$ = (ast_list){0}; add_arg(p, &$$, $1); }
    | args "," arg          { $$ = $1; add_arg(p, &$$, $3); }
    ;

arg
    : expr                  { $$ = mk_arg(p, NULL, @1, $1); }
    | T_NAME ":" expr       { $$ = mk_arg(p, $1, @1, $3); }
    ;

index_items
    : index_item            { $$ = list1(p, $1); }
    | index_items "," index_item { $$ = $1; push(p, &$$, $3); }
    ;

index_item
    : expr
    | KW_NONE               { $$ = mk_expr(p, AST_NONE, @1, 0); }
    | ":" slice_bound       { $$ = mk_slice(p, @1, NULL, $2, NULL); }
    | ":" slice_bound ":" slice_bound { $$ = mk_slice(p, @1, NULL, $2, $4); }
    | expr ":" slice_bound  { $$ = mk_slice(p, @1, $1, $3, NULL); }
    | expr ":" slice_bound ":" slice_bound { $$ = mk_slice(p, @1, $1, $3, $5); }
    ;

slice_bound
    : %empty                { $$ = NULL; }
    | expr
    ;

primary
    : T_INT                 { $$ = mk_int(p, $1, @1); }
    | T_FLOAT               { $$ = mk_expr(p, AST_FLOAT, @1, 0); $$->u.fval = $1; }
    | T_STRING              { $$ = mk_expr(p, AST_STRING, @1, 0); $$->u.str = $1; }
    | KW_TRUE               { $$ = mk_expr(p, AST_BOOL, @1, 0); $$->u.bval = true; }
    | KW_FALSE              { $$ = mk_expr(p, AST_BOOL, @1, 0); $$->u.bval = false; }
    | T_NAME                { $$ = mk_name(p, $1, @1); }
    | "(" expr ")"          { $$ = $2; }
    | "(" expr "," exprs ")" {
        ast_list l = list1(p, $2);
        for (int i = 0; i < $4.len; i++) push(p, &l, $4.items[i]);
        $$ = mk_expr(p, AST_TUPLE, @1, max_depth(&l, false));
        $$->u.elems = l;
      }
    | "[" exprs "]" {
        $$ = mk_expr(p, AST_LIST, @1, max_depth(&$2, false));
        $$->u.elems = $2;
      }
    | "[" exprs "," "]" {
        $$ = mk_expr(p, AST_LIST, @1, max_depth(&$2, false));
        $$->u.elems = $2;
      }
    | KW_CAST "<" T_NAME ">" "(" expr ")" {
        $$ = mk_expr(p, AST_CAST, @1, depth_of($6));
        $$->u.cast.to = mk_type(p, AST_TY_NAME, $3, @3);
        $$->u.cast.operand = $6;
      }
    ;

%%

/* ---- shared helpers (declared in parser.h) ----------------------------- */

void fe_error(fe_parser *p, src_loc loc, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->nerrors++;
    diag_report(p->diags, DIAG_ERROR, loc, "%s", buf);
}

void fe_fatal(fe_parser *p, const char *msg)
{
    (void)msg;
    p->oom = true;
    longjmp(p->fatal, 1);
}

void *fe_alloc(fe_parser *p, size_t size)
{
    void *m = arena_alloc(p->mem, size);
    if (!m) fe_fatal(p, "out of memory");
    return m;
}

char *fe_strndup(fe_parser *p, const char *s, size_t n)
{
    char *m = arena_strndup(p->mem, s, n);
    if (!m) fe_fatal(p, "out of memory");
    return m;
}

/* The current token's source text, cut to `max` bytes with "...". */
const char *fe_tok_text(fe_parser *p, size_t max)
{
    size_t n = p->offset - p->tok_offset;
    const char *s = p->text + p->tok_offset;
    if (n <= max) return fe_strndup(p, s, n);
    char *r = fe_alloc(p, max + 4);
    memcpy(r, s, max);
    memcpy(r + max, "...", 4);
    return r;
}

void p_unterminated(fe_parser *p, const YYLTYPE *loc, const char *msg)
{
    p->eof_error = true;
    fe_error(p, (src_loc){p->path, loc->first_line, loc->first_column}, "%s", msg);
}

/* ---- the token wrapper ------------------------------------------------- */

static void open_push(fe_parser *p, int ch, int ctx, const YYLTYPE *loc)
{
    if (p->nopen == p->capopen) {
        int cap = p->capopen ? p->capopen * 2 : 32;
        fe_open *n = fe_alloc(p, (size_t)cap * sizeof *n);
        if (p->nopen) memcpy(n, p->opens, (size_t)p->nopen * sizeof *n);
        p->opens = n;
        p->capopen = cap;
    }
    fe_open *o = &p->opens[p->nopen++];
    o->ch = ch;
    o->ctx = ctx;
    o->line = loc->first_line;
    o->col = loc->first_column;
    o->saved_parens = p->nparens;
    o->saved_brackets = p->nbrackets;
    if (ch == '(') p->nparens++;
    if (ch == '[') p->nbrackets++;
    if (ch == '{') {
        p->nparens = p->nbrackets = 0;
        p->brace_depth++;
        if (p->brace_depth > FE_MAX_DEPTH / 4 && !p->too_deep) {
            p->too_deep = true;
            fe_error(p, (src_loc){p->path, loc->first_line, loc->first_column}, "nesting too deep");
        }
    }
}

static void open_pop(fe_parser *p)
{
    fe_open *o = &p->opens[--p->nopen];
    if (o->ch == '(') p->nparens--;
    if (o->ch == '[') p->nbrackets--;
    if (o->ch == '{') {
        p->nparens = o->saved_parens;
        p->nbrackets = o->saved_brackets;
        p->brace_depth--;
    }
}

/* Drops open '(' and '[' above the innermost '{' (they cannot span ';' or braces). */
static void close_parens(fe_parser *p)
{
    while (p->nopen > 0 && p->opens[p->nopen - 1].ch != '{') open_pop(p);
}

static bool in_parens(const fe_parser *p)
{
    return p->nopen > 0 && p->opens[p->nopen - 1].ch != '{';
}

static bool ends_operand(int t)
{
    return t == T_NAME || t == T_INT || t == T_FLOAT || t == T_STRING || t == T_RPAREN ||
           t == T_RBRACKET || t == KW_TRUE || t == KW_FALSE;
}

static int classify_paren(const fe_parser *p)
{
    int t0 = p->hist[0], t1 = p->hist[1], t2 = p->hist[2];
    if (t0 == KW_GRID) return FE_CTX_GRID;
    if (t0 == KW_RANGE) return FE_CTX_RANGE;
    if (t0 == KW_STATIC_ASSERT) return FE_CTX_SASSERT;
    if (t0 == KW_ASSERT) return FE_CTX_ASSERT;
    if (t0 == T_ARROW) return FE_CTX_RTYPE;
    if (t0 == KW_LET) return FE_CTX_PATTERN;
    if (t0 == T_GT && t1 == T_NAME && t2 == T_LT) return FE_CTX_CAST;
    if (t0 == T_NAME && (t1 == KW_FN || t1 == KW_KERNEL)) return FE_CTX_PARAMS;
    if (ends_operand(t0)) return FE_CTX_CALL;
    return FE_CTX_GROUP;
}

static int classify_bracket(const fe_parser *p)
{
    if (p->hist[0] == T_GT && p->hist[1] == T_NAME && p->hist[2] == T_LT) return FE_CTX_DIMS;
    if (ends_operand(p->hist[0])) return FE_CTX_INDEX;
    return FE_CTX_LIST;
}

/* A ')' or ']': closes the innermost matching bracket of this brace level. */
static void close_bracket(fe_parser *p, int open)
{
    int have = open == '(' ? p->nparens : p->nbrackets;
    if (have == 0) {
        p->unmatched = true;
        return;
    }
    while (p->opens[p->nopen - 1].ch != open) open_pop(p);
    open_pop(p);
}

static void set_loc(YYLTYPE *l, int line, int col)
{
    l->first_line = l->last_line = line;
    l->first_column = l->last_column = col;
}

static bool is_item_keyword(int t) { return t == KW_KERNEL || t == KW_FN || t == KW_IMPORT; }

/* Skips the rest of a '{' group the parser discarded; stops early (as if
 * the group closed) at an item keyword or the end of the file. */
static void skip_group(fe_parser *p, YYSTYPE *lval)
{
    int base = p->nopen - 1;  /* the discarded '{' */
    while (base >= 0 && p->opens[base].ch != '{') base--;
    int depth = 1;
    for (;;) {
        YYLTYPE l = {0};
        int t = fe_raw_lex(lval, &l, p->scanner);
        if (t != YYEOF && !is_item_keyword(t)) {
            p->last_end_line = l.last_line;
            p->last_end_col = l.last_column;
        }
        if (t == YYEOF || is_item_keyword(t)) {
            p->have_held = true;
            p->held_kind = t;
            p->held_offset = p->tok_offset;
            p->held_len = p->offset - p->tok_offset;
            p->held_line = l.first_line;
            p->held_col = l.first_column;
            p->held_last_line = l.last_line;
            p->held_last_col = l.last_column;
            break;
        }
        if (t == T_LBRACE) depth++;
        if (t == T_RBRACE && --depth == 0) break;
    }
    while (p->nopen > base && base >= 0) open_pop(p);
}

static int yylex(YYSTYPE *lval, YYLTYPE *lloc, fe_parser *p)
{
    int t;
    if (p->synth_closes > 0) {
        p->synth_closes--;
        p->last_lex_error = false;
        set_loc(lloc, p->held_line, p->held_col);
        p->have_before = false;
        p->unmatched = false;
        return T_RBRACE;
    }
    if (p->skip_group) {
        p->skip_group = false;
        YYLTYPE start = {0};
        if (p->nopen > 0) set_loc(&start, p->opens[p->nopen - 1].line, p->opens[p->nopen - 1].col);
        skip_group(p, lval);
        *lloc = start;
        return T_BRACE_GROUP;
    }
    bool held = p->have_held;
    if (held) {
        p->have_held = false;
        p->last_lex_error = false;
        t = p->held_kind;
        lloc->first_line = p->held_line;
        lloc->first_column = p->held_col;
        lloc->last_line = p->held_last_line;
        lloc->last_column = p->held_last_col;
    } else {
        int before = p->nerrors;
        t = fe_raw_lex(lval, lloc, p->scanner);
        p->last_lex_error = p->nerrors != before;
    }

    p->have_before = p->nopen > 0;
    if (p->have_before) p->before = p->opens[p->nopen - 1];
    p->item_kw_before = p->item_kw;
    p->unmatched = false;

    switch (t) {
    case T_LPAREN: open_push(p, '(', classify_paren(p), lloc); break;
    case T_LBRACKET: open_push(p, '[', classify_bracket(p), lloc); break;
    case T_LBRACE:
        close_parens(p);
        open_push(p, '{', FE_CTX_BLOCK, lloc);
        break;
    case T_RPAREN: close_bracket(p, '('); break;
    case T_RBRACKET: close_bracket(p, '['); break;
    case T_RBRACE:
        close_parens(p);
        if (p->brace_depth > 0) open_pop(p);
        else p->unmatched = true;
        break;
    case T_SEMI: close_parens(p); break;
    case KW_CONST:
        if (in_parens(p)) t = KW_PCONST;
        else if (p->brace_depth == 0) p->item_kw = t;
        break;
    case KW_FN:
    case KW_KERNEL:
    case KW_IMPORT:
        if (t == KW_FN && in_parens(p)) {
            t = KW_PFN;
            break;
        }
        if (p->brace_depth > 0) {
            /* A '}' is missing: close every open block, then the item. */
            int line = 0, col = 0;
            for (int i = p->nopen - 1; i >= 0; i--)
                if (p->opens[i].ch == '{') {
                    line = p->opens[i].line;
                    col = p->opens[i].col;
                    break;
                }
            fe_error(p, (src_loc){p->path, lloc->first_line, lloc->first_column},
                     "expected '}' to close block, found '%s'",
                     t == KW_FN ? "fn" : t == KW_KERNEL ? "kernel" : "import");
            if (line != lloc->first_line)
                diag_note(p->diags, ((src_loc){p->path, line, col}), "to match this '{'");
            p->synth_closes = p->brace_depth;
            while (p->nopen > 0) open_pop(p);
            p->have_held = true;
            p->held_kind = t;
            p->held_offset = held ? p->held_offset : p->tok_offset;
            p->held_len = held ? p->held_len : p->offset - p->tok_offset;
            p->held_line = lloc->first_line;
            p->held_col = lloc->first_column;
            p->held_last_line = lloc->last_line;
            p->held_last_col = lloc->last_column;
            set_loc(lloc, p->held_line, p->held_col);
            p->have_before = false;
            return T_BAD;
        }
        p->item_kw = t;
        break;
    case YYEOF:
        /* End of file sits just after the last token. */
        if (p->last_end_line > 0) set_loc(lloc, p->last_end_line, p->last_end_col + 1);
        break;
    default:
        break;
    }

    p->hist[2] = p->hist[1];
    p->hist[1] = p->hist[0];
    p->hist[0] = t;
    if (t != YYEOF) {
        p->prev_end_line = p->last_end_line;
        p->prev_end_col = p->last_end_col;
        p->last_end_line = lloc->last_line;
        p->last_end_col = lloc->last_column;
        p->prev_bad_string = p->last_bad_string;
        p->last_bad_string = !held && p->tok_bad_string;
        p->last_tok_offset = held ? p->held_offset : p->tok_offset;
        p->last_tok_len = held ? p->held_len : p->offset - p->tok_offset;
    }
    return t;
}

/* ---- syntax error messages -------------------------------------------- */

static const char *sym_text(yysymbol_kind_t k)
{
    switch (k) {
    case YYSYMBOL_YYEOF: return "end of file";
    case YYSYMBOL_T_NAME: return "identifier";
    case YYSYMBOL_T_STRING: return "string";
    case YYSYMBOL_T_INT: return "integer";
    case YYSYMBOL_T_FLOAT: return "float";
    case YYSYMBOL_KW_IMPORT: return "'import'";
    case YYSYMBOL_KW_CONST: return "'const'";
    case YYSYMBOL_KW_PCONST: return "'const'";
    case YYSYMBOL_KW_FN: return "'fn'";
    case YYSYMBOL_KW_PFN: return "'fn'";
    case YYSYMBOL_KW_KERNEL: return "'kernel'";
    case YYSYMBOL_KW_GRID: return "'grid'";
    case YYSYMBOL_KW_LET: return "'let'";
    case YYSYMBOL_KW_VAR: return "'var'";
    case YYSYMBOL_KW_FOR: return "'for'";
    case YYSYMBOL_KW_IN: return "'in'";
    case YYSYMBOL_KW_RANGE: return "'range'";
    case YYSYMBOL_KW_WHILE: return "'while'";
    case YYSYMBOL_KW_IF: return "'if'";
    case YYSYMBOL_KW_ELSE: return "'else'";
    case YYSYMBOL_KW_RETURN: return "'return'";
    case YYSYMBOL_KW_OUT: return "'out'";
    case YYSYMBOL_KW_TENSOR: return "'tensor'";
    case YYSYMBOL_KW_AUTO: return "'auto'";
    case YYSYMBOL_KW_TRUE: return "'true'";
    case YYSYMBOL_KW_FALSE: return "'false'";
    case YYSYMBOL_KW_NONE: return "'None'";
    case YYSYMBOL_KW_CAST: return "'cast'";
    case YYSYMBOL_KW_STATIC_ASSERT: return "'static_assert'";
    case YYSYMBOL_KW_ASSERT: return "'assert'";
    case YYSYMBOL_KW_BREAK: return "'break'";
    case YYSYMBOL_KW_CONTINUE: return "'continue'";
    case YYSYMBOL_T_LPAREN: return "'('";
    case YYSYMBOL_T_RPAREN: return "')'";
    case YYSYMBOL_T_LBRACKET: return "'['";
    case YYSYMBOL_T_RBRACKET: return "']'";
    case YYSYMBOL_T_LBRACE: return "'{'";
    case YYSYMBOL_T_RBRACE: return "'}'";
    case YYSYMBOL_T_COMMA: return "','";
    case YYSYMBOL_T_SEMI: return "';'";
    case YYSYMBOL_T_COLON: return "':'";
    case YYSYMBOL_T_ASSIGN: return "'='";
    case YYSYMBOL_T_ADD_ASSIGN: return "'+='";
    case YYSYMBOL_T_SUB_ASSIGN: return "'-='";
    case YYSYMBOL_T_MUL_ASSIGN: return "'*='";
    case YYSYMBOL_T_DIV_ASSIGN: return "'/='";
    case YYSYMBOL_T_ARROW: return "'->'";
    case YYSYMBOL_T_OROR: return "'||'";
    case YYSYMBOL_T_ANDAND: return "'&&'";
    case YYSYMBOL_T_OR: return "'|'";
    case YYSYMBOL_T_XOR: return "'^'";
    case YYSYMBOL_T_AND: return "'&'";
    case YYSYMBOL_T_EQ: return "'=='";
    case YYSYMBOL_T_NE: return "'!='";
    case YYSYMBOL_T_LT: return "'<'";
    case YYSYMBOL_T_LE: return "'<='";
    case YYSYMBOL_T_GT: return "'>'";
    case YYSYMBOL_T_GE: return "'>='";
    case YYSYMBOL_T_SHL: return "'<<'";
    case YYSYMBOL_T_SHR: return "'>>'";
    case YYSYMBOL_T_PLUS: return "'+'";
    case YYSYMBOL_T_MINUS: return "'-'";
    case YYSYMBOL_T_STAR: return "'*'";
    case YYSYMBOL_T_POW: return "'**'";
    case YYSYMBOL_T_SLASH: return "'/'";
    case YYSYMBOL_T_PERCENT: return "'%'";
    case YYSYMBOL_T_NOT: return "'!'";
    case YYSYMBOL_T_TILDE: return "'~'";
    case YYSYMBOL_T_BRACE_GROUP: return "block";
    default: return "invalid token";
    }
}

/* "identifier 'foo'", "'='", "end of file": the lookahead as the user wrote it. */
static const char *found_text(fe_parser *p, yysymbol_kind_t k)
{
    const char *s = p->text + p->last_tok_offset;
    size_t n = p->last_tok_len, max = 40;
    const char *what;
    switch (k) {
    case YYSYMBOL_T_NAME: what = "identifier"; break;
    case YYSYMBOL_T_INT: what = "integer"; break;
    case YYSYMBOL_T_FLOAT: what = "float"; break;
    case YYSYMBOL_T_STRING:
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 32 || (unsigned char)s[i] >= 127) return "string";
        return arena_printf(p->mem, "string %.*s%s", (int)(n > max ? max : n), s, n > max ? "..." : "");
    default: return sym_text(k);
    }
    if (n == 0) return what;
    return arena_printf(p->mem, "%s '%.*s%s'", what, (int)(n > max ? max : n), s, n > max ? "..." : "");
}

/* Is the last token a word (then, not being a name, a keyword)? */
static bool is_keyword_text(const fe_parser *p)
{
    const char *s = p->text + p->last_tok_offset;
    size_t n = p->last_tok_len;
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return false;
    return true;
}

static bool starts_expr(yysymbol_kind_t k)
{
    switch (k) {
    case YYSYMBOL_T_NAME: case YYSYMBOL_T_INT: case YYSYMBOL_T_FLOAT: case YYSYMBOL_T_STRING:
    case YYSYMBOL_KW_TRUE: case YYSYMBOL_KW_FALSE: case YYSYMBOL_KW_CAST:
    case YYSYMBOL_T_LPAREN: case YYSYMBOL_T_LBRACKET:
    case YYSYMBOL_T_MINUS: case YYSYMBOL_T_NOT: case YYSYMBOL_T_TILDE:
        return true;
    default:
        return false;
    }
}

static bool is_assign_op(yysymbol_kind_t k)
{
    return k == YYSYMBOL_T_ASSIGN || k == YYSYMBOL_T_ADD_ASSIGN || k == YYSYMBOL_T_SUB_ASSIGN ||
           k == YYSYMBOL_T_MUL_ASSIGN || k == YYSYMBOL_T_DIV_ASSIGN;
}

static const char *ctx_name(int ctx)
{
    switch (ctx) {
    case FE_CTX_CALL: return "call";
    case FE_CTX_PARAMS: return "parameter list";
    case FE_CTX_GRID: return "grid";
    case FE_CTX_RANGE: return "range";
    case FE_CTX_SASSERT: return "static_assert";
    case FE_CTX_ASSERT: return "assert";
    case FE_CTX_CAST: return "cast";
    case FE_CTX_RTYPE: return "result types";
    case FE_CTX_PATTERN: return "tuple pattern";
    case FE_CTX_INDEX: return "index";
    case FE_CTX_LIST: return "list";
    case FE_CTX_DIMS: return "tensor dimensions";
    default: return NULL;
    }
}

static void note_opener(fe_parser *p, int line, int col, int ch, int err_line)
{
    if (line > 0 && line != err_line)
        diag_note(p->diags, ((src_loc){p->path, line, col}), "to match this '%c'", ch);
}

static int yyreport_syntax_error(const yypcontext_t *ctx, fe_parser *p)
{
    yysymbol_kind_t t = yypcontext_token(ctx);
    const YYLTYPE *tl = yypcontext_location(ctx);
    src_loc at = {p->path, tl->first_line, tl->first_column};
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0) n = 0;
    bool want[YYNTOKENS] = {0};
    for (int i = 0; i < n; i++) want[exp[i]] = true;
    bool want_expr = want[YYSYMBOL_T_MINUS] && want[YYSYMBOL_T_INT];

    if (t == YYSYMBOL_T_BAD || t == YYSYMBOL_YYUNDEF) return 0;          /* reported by the lexer */
    if (t == YYSYMBOL_YYEOF && p->eof_error) return 0;
    if (p->prev_bad_string) return 0;   /* the string swallowed the rest of its line */
    if (p->last_lex_error && t != YYSYMBOL_YYEOF) return 0;   /* one error per token */
    const char *found = found_text(p, t);
    if (t != YYSYMBOL_T_NAME && (want[YYSYMBOL_T_NAME] || want_expr) && is_keyword_text(p))
        found = arena_printf(p->mem, "%s ('%.*s' is a keyword%s)", found, (int)p->last_tok_len,
                             p->text + p->last_tok_offset,
                             want_expr ? "" : " and cannot be a name");

    if (t == YYSYMBOL_KW_ELSE && !want[YYSYMBOL_KW_ELSE]) {
        fe_error(p, at, "unexpected 'else' without 'if'");
        return 0;
    }
    if (p->unmatched && (t == YYSYMBOL_T_RBRACE || t == YYSYMBOL_T_RPAREN || t == YYSYMBOL_T_RBRACKET)) {
        fe_error(p, at, "unmatched %s", found);
        return 0;
    }

    /* Inside ( ) or [ ]: talk about the bracket. */
    if (p->have_before && p->before.ch != '{') {
        int close = p->before.ch == '(' ? YYSYMBOL_T_RPAREN : YYSYMBOL_T_RBRACKET;
        char cch = p->before.ch == '(' ? ')' : ']';
        const char *what = ctx_name(p->before.ctx);
        if ((p->before.ctx == FE_CTX_SASSERT || p->before.ctx == FE_CTX_ASSERT) &&
            want[YYSYMBOL_T_COMMA] && !want[close]) {
            fe_error(p, at, "expected ',' and a message after the condition of %s, found %s",
                     what, found);
            return 0;
        }
        if (want[close]) {
            if (t == YYSYMBOL_T_ASSIGN && want[YYSYMBOL_T_COLON]) {
                fe_error(p, at, "expected ':' after argument name, found '='");
                return 0;
            }
            bool terminator = t == YYSYMBOL_YYEOF || t == YYSYMBOL_T_SEMI || t == YYSYMBOL_T_LBRACE ||
                              t == YYSYMBOL_T_RBRACE || t == YYSYMBOL_T_RPAREN || t == YYSYMBOL_T_RBRACKET;
            if (!terminator && want[YYSYMBOL_T_COMMA] && (starts_expr(t) || t == YYSYMBOL_KW_NONE ||
                                                         t == YYSYMBOL_T_COLON || t == YYSYMBOL_KW_PCONST)) {
                if (what) fe_error(p, at, "expected ',' or '%c' in %s, found %s", cch, what, found);
                else fe_error(p, at, "expected ',' or '%c', found %s", cch, found);
                return 0;
            }
            if (!terminator && want[YYSYMBOL_KW_PCONST] && want[YYSYMBOL_T_NAME]) {
                fe_error(p, at, "expected parameter, found %s", found);
                return 0;
            }
            if (!terminator && want_expr) {
                fe_error(p, at, "expected expression, found %s", found);
                return 0;
            }
            if (what) fe_error(p, at, "expected '%c' to close %s, found %s", cch, what, found);
            else fe_error(p, at, "expected '%c', found %s", cch, found);
            note_opener(p, p->before.line, p->before.col, p->before.ch, at.line);
            return 0;
        }
    }

    if (p->hist[1] == T_ARROW) {
        fe_error(p, at, "expected result type after '->', found %s", found);
        return 0;
    }
    if (t == YYSYMBOL_YYEOF && want[YYSYMBOL_T_RBRACE]) {
        fe_error(p, at, "expected '}' to close block, found end of file");
        for (int i = p->nopen - 1; i >= 0; i--)
            if (p->opens[i].ch == '{') {
                note_opener(p, p->opens[i].line, p->opens[i].col, '{', at.line);
                break;
            }
        return 0;
    }
    if (is_assign_op(t) && !want[t] && want[YYSYMBOL_T_SEMI]) {
        fe_error(p, at, "left side of %s must be a variable name", found);
        return 0;
    }
    if (want[YYSYMBOL_T_SEMI] && !(p->have_before && p->before.ch != '{')) {
        src_loc end = {p->path, p->prev_end_line, p->prev_end_col + 1};
        if (t == YYSYMBOL_YYEOF || end.line == 0) end = at;
        const char *what = "statement";
        if (!p->have_before) {
            what = p->item_kw_before == KW_IMPORT ? "import"
                 : p->item_kw_before == KW_CONST ? "constant"
                 : p->item_kw_before == KW_KERNEL ? "kernel specialisation" : "statement";
        }
        fe_error(p, end, "expected ';' after %s, found %s", what, found);
        return 0;
    }
    if (want[YYSYMBOL_KW_LET]) {
        if (t == YYSYMBOL_KW_CONST)
            fe_error(p, at, "'const' is not allowed inside a block; use 'let'");
        else
            fe_error(p, at, "expected statement, found %s", found);
        return 0;
    }
    if (want_expr) {
        if (want[YYSYMBOL_T_COLON] && want[YYSYMBOL_KW_NONE])
            fe_error(p, at, "expected index (expression, ':' or 'None'), found %s", found);
        else
            fe_error(p, at, "expected expression, found %s", found);
        return 0;
    }

    /* After a kernel's parameters: `grid` (a specialisation's '=' is rare). */
    if (want[YYSYMBOL_KW_GRID]) {
        fe_error(p, at, "expected 'grid', found %s", found);
        return 0;
    }

    /* Generic: list what would have been accepted. */
    const char *names[4];
    int k = 0;
    bool many = false;
    for (int i = 0; i < n; i++) {
        if (exp[i] == YYSYMBOL_YYEOF || exp[i] == YYSYMBOL_T_BRACE_GROUP || exp[i] == YYSYMBOL_T_BAD ||
            exp[i] == YYSYMBOL_YYerror || exp[i] == YYSYMBOL_YYUNDEF)
            continue;
        const char *s = sym_text(exp[i]);
        bool dup = false;
        for (int j = 0; j < k; j++) dup = dup || strcmp(names[j], s) == 0;
        if (dup) continue;
        if (k == 4) {
            many = true;
            break;
        }
        names[k++] = s;
    }
    if (k == 0 || many) {
        fe_error(p, at, "unexpected %s", found);
    } else if (k == 1) {
        fe_error(p, at, "expected %s, found %s", names[0], found);
    } else {
        char buf[256] = "";
        for (int i = 0; i < k; i++) {
            if (i > 0) strcat(buf, i == k - 1 ? " or " : ", ");
            strcat(buf, names[i]);
        }
        fe_error(p, at, "expected %s, found %s", buf, found);
    }
    return 0;
}

static void yyerror(YYLTYPE *loc, fe_parser *p, const char *msg)
{
    (void)msg;  /* bison's only own message here is "memory exhausted" */
    if (p->too_deep) return;
    p->too_deep = true;
    fe_error(p, (src_loc){p->path, loc->first_line, loc->first_column},
             p->oom ? "out of memory" : "nesting too deep");
}

/* ---- entry point ------------------------------------------------------- */

/* Kept out of fe_parse: no temporaries may live in the frame that setjmp
 * returns to twice. */
static void report_oom(fe_parser *p)
{
    diag_error(p->diags, ((src_loc){p->path, 0, 0}), "out of memory");
    p->nerrors++;
}

ast_file *fe_parse(arena *mem, diag_ctx *d, const char *path, const char *text, size_t len)
{
    return fe_parse_at(mem, d, path, text, len, 1, 1);
}

ast_file *fe_parse_at(arena *mem, diag_ctx *d, const char *path, const char *text, size_t len,
                      int line, int col)
{
    fe_parser *p = arena_alloc(mem, sizeof *p);
    ast_file *f = arena_alloc(mem, sizeof *f);
    if (!p || !f) {
        diag_error(d, ((src_loc){path, 0, 0}), "out of memory");
        return NULL;
    }
    if (len > INT_MAX / 2) {
        diag_error(d, ((src_loc){path, 0, 0}), "file too large");
        return NULL;
    }
    p->mem = mem;
    p->diags = d;
    p->path = path;
    p->text = text;
    p->len = len;
    p->file = f;
    f->path = path;
    int rc = 2;
    if (setjmp(p->fatal) == 0) {
        if (fe_scan_begin(p) != 0) fe_fatal(p, "out of memory");
        p->line = line;
        p->col = col;
        rc = yyparse(p);
    } else {
        report_oom(p);
    }
    fe_scan_end(p);
    if (rc != 0 || p->nerrors > 0) return NULL;
    return f;
}
