/* test_lexer.c - the flex scanner alone: every token class, literal values,
 * locations (1-based, a tab is one column), comments and lexical errors
 * (exact messages).  Tokens come from fe_raw_lex, before the parser's
 * wrapper; the wrapper's work is covered by test_parser.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/ast.h"
#include "parser.h"

enum { MAX_TOKS = 512 };

typedef struct tok {
    int kind;
    YYLTYPE loc;
    YYSTYPE val;
} tok;

typedef struct lexed {
    arena mem;
    diag_ctx diags;
    tok toks[MAX_TOKS];
    int n;              /* tokens before end of file */
    const char *err;    /* rendered diagnostics */
} lexed;

static void lex_n(lexed *L, const char *src, size_t len)
{
    memset(L, 0, sizeof *L);
    arena_init(&L->mem);
    diag_init(&L->diags, &L->mem);
    const src_file *f = diag_add_source(&L->diags, "t.tile", src, len);
    assert_non_null(f);
    fe_parser *p = arena_alloc(&L->mem, sizeof *p);
    assert_non_null(p);
    p->mem = &L->mem;
    p->diags = &L->diags;
    p->path = f->path;
    p->text = f->text;
    p->len = len;
    if (setjmp(p->fatal) == 0) {
        assert_int_equal(fe_scan_begin(p), 0);
        for (;;) {
            tok t = {0};
            t.kind = fe_raw_lex(&t.val, &t.loc, p->scanner);
            if (t.kind == YYEOF) break;
            assert_true(L->n < MAX_TOKS);
            L->toks[L->n++] = t;
        }
    } else {
        fail_msg("scanner hit a fatal error");
    }
    fe_scan_end(p);
    L->err = diag_render(&L->diags, &L->mem);
}

static void lex(lexed *L, const char *src) { lex_n(L, src, strlen(src)); }

static void done(lexed *L) { arena_free(&L->mem); }

static void check_kinds(const lexed *L, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    assert_int_equal(L->n, n);
    for (int i = 0; i < n; i++) {
        int k = va_arg(ap, int);
        if (L->toks[i].kind != k) fail_msg("token %d: kind %d, expected %d", i, L->toks[i].kind, k);
    }
    va_end(ap);
}

static void check_loc(const tok *t, int line, int col, int last_line, int last_col)
{
    assert_int_equal(t->loc.first_line, line);
    assert_int_equal(t->loc.first_column, col);
    assert_int_equal(t->loc.last_line, last_line);
    assert_int_equal(t->loc.last_column, last_col);
}

static void test_empty(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "");
    assert_int_equal(L.n, 0);
    assert_string_equal(L.err, "");
    done(&L);
    lex(&L, "  \t\n\r\n  ");
    assert_int_equal(L.n, 0);
    done(&L);
}

static void test_keywords(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "import const fn kernel grid let var for in range while if else return out tensor "
            "auto true false None cast static_assert assert");
    check_kinds(&L, 23, KW_IMPORT, KW_CONST, KW_FN, KW_KERNEL, KW_GRID, KW_LET, KW_VAR, KW_FOR, KW_IN,
                KW_RANGE, KW_WHILE, KW_IF, KW_ELSE, KW_RETURN, KW_OUT, KW_TENSOR, KW_AUTO, KW_TRUE,
                KW_FALSE, KW_NONE, KW_CAST, KW_STATIC_ASSERT, KW_ASSERT);
    assert_string_equal(L.err, "");
    done(&L);
}

static void test_identifiers(void **state)
{
    (void)state;
    lexed L;
    /* near-keywords, dtype names and built-ins are plain names */
    lex(&L, "imports Kernel none int f32 bf16 inf _x a1_B2 fnx __ x");
    assert_int_equal(L.n, 12);
    static const char *const names[] = {"imports", "Kernel", "none", "int", "f32", "bf16",
                                        "inf", "_x", "a1_B2", "fnx", "__", "x"};
    for (int i = 0; i < 12; i++) {
        assert_int_equal(L.toks[i].kind, T_NAME);
        assert_string_equal(L.toks[i].val.str, names[i]);
    }
    done(&L);
}

static void test_punctuation(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "( ) [ ] { } , ; : = += -= *= /= -> || && | ^ & == != < <= > >= << >> + - * / % ! ~");
    check_kinds(&L, 35, T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET, T_LBRACE, T_RBRACE, T_COMMA,
                T_SEMI, T_COLON, T_ASSIGN, T_ADD_ASSIGN, T_SUB_ASSIGN, T_MUL_ASSIGN, T_DIV_ASSIGN,
                T_ARROW, T_OROR, T_ANDAND, T_OR, T_XOR, T_AND, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
                T_SHL, T_SHR, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT, T_NOT, T_TILDE);
    done(&L);
    /* longest match without spaces */
    lex(&L, "a<<=b->c>=d>>e==f!=g&&h||i-=-j");
    check_kinds(&L, 21, T_NAME, T_SHL, T_ASSIGN, T_NAME, T_ARROW, T_NAME, T_GE, T_NAME, T_SHR, T_NAME,
                T_EQ, T_NAME, T_NE, T_NAME, T_ANDAND, T_NAME, T_OROR, T_NAME, T_SUB_ASSIGN, T_MINUS, T_NAME);
    done(&L);
    lex(&L, "tensor<f32>[N]cast<bf16>(x)");
    check_kinds(&L, 14, KW_TENSOR, T_LT, T_NAME, T_GT, T_LBRACKET, T_NAME, T_RBRACKET, KW_CAST, T_LT,
                T_NAME, T_GT, T_LPAREN, T_NAME, T_RPAREN);
    done(&L);
}

static void test_integers(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "0 42 007 0x1F 0XfF 9223372036854775807 0x7fffffffffffffff 0x0");
    static const int64_t want[] = {0, 42, 7, 31, 255, INT64_MAX, INT64_MAX, 0};
    assert_int_equal(L.n, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(L.toks[i].kind, T_INT);
        assert_true(L.toks[i].val.ival == want[i]);
    }
    assert_string_equal(L.err, "");
    done(&L);
}

static void test_floats(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "1.0 .5 1e-3 2.5E+2 1. 3e10 1.5e3 0.1 1e-400 6.02e23");
    static const double want[] = {1.0, 0.5, 1e-3, 250.0, 1.0, 3e10, 1500.0, 0.1, 0.0, 6.02e23};
    assert_int_equal(L.n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(L.toks[i].kind, T_FLOAT);
        assert_true(L.toks[i].val.fval == want[i]);
    }
    assert_string_equal(L.err, "");  /* underflow to 0 is fine */
    done(&L);
    /* a '-' is never part of a literal; `1-2` is three tokens */
    lex(&L, "-1.5 1-2 1e+2+3");
    check_kinds(&L, 8, T_MINUS, T_FLOAT, T_INT, T_MINUS, T_INT, T_FLOAT, T_PLUS, T_INT);
    done(&L);
}

static void test_strings(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "\"\" \"abc\" \"a\\nb\\tc\\\\d\\\"e\" \"caf\xc3\xa9 // not a comment\"");
    assert_int_equal(L.n, 4);
    assert_string_equal(L.toks[0].val.str, "");
    assert_string_equal(L.toks[1].val.str, "abc");
    assert_string_equal(L.toks[2].val.str, "a\nb\tc\\d\"e");
    assert_string_equal(L.toks[3].val.str, "caf\xc3\xa9 // not a comment");
    for (int i = 0; i < 4; i++) assert_int_equal(L.toks[i].kind, T_STRING);
    check_loc(&L.toks[1], 1, 4, 1, 8);
    assert_string_equal(L.err, "");
    done(&L);
}

static void test_comments(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "a // line comment ( [ {\n"
            "/* block\n   comment ** with / stars */ b\n"
            "/***/ c /* // */ d /*\n*/e // last line without newline");
    check_kinds(&L, 5, T_NAME, T_NAME, T_NAME, T_NAME, T_NAME);
    check_loc(&L.toks[0], 1, 1, 1, 1);
    check_loc(&L.toks[1], 3, 31, 3, 31);
    check_loc(&L.toks[2], 4, 7, 4, 7);
    check_loc(&L.toks[3], 4, 18, 4, 18);
    check_loc(&L.toks[4], 5, 3, 5, 3);
    assert_string_equal(L.err, "");
    done(&L);
    lex(&L, "// only a comment");
    assert_int_equal(L.n, 0);
    done(&L);
}

static void test_locations(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "let x\t= 12;\n\n\tfoo(bar)\r\n  \"s\" 1.5e3");
    check_kinds(&L, 11, KW_LET, T_NAME, T_ASSIGN, T_INT, T_SEMI, T_NAME, T_LPAREN, T_NAME, T_RPAREN,
                T_STRING, T_FLOAT);
    check_loc(&L.toks[10], 4, 7, 4, 11);
    check_loc(&L.toks[0], 1, 1, 1, 3);   /* let */
    check_loc(&L.toks[1], 1, 5, 1, 5);   /* x */
    check_loc(&L.toks[2], 1, 7, 1, 7);   /* = after a tab: one column */
    check_loc(&L.toks[3], 1, 9, 1, 10);  /* 12 */
    check_loc(&L.toks[4], 1, 11, 1, 11);
    check_loc(&L.toks[5], 3, 2, 3, 4);   /* foo after a tab */
    check_loc(&L.toks[8], 3, 9, 3, 9);
    check_loc(&L.toks[9], 4, 3, 4, 5);   /* "s" after CRLF */
    done(&L);
}

static void test_int_overflow(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "9223372036854775808 x 0x8000000000000000 99999999999999999999999 7");
    check_kinds(&L, 5, T_INT, T_NAME, T_INT, T_INT, T_INT);
    assert_true(L.toks[0].val.ival == 0);
    assert_true(L.toks[4].val.ival == 7);
    assert_string_equal(L.err,
        "t.tile:1:1: error: integer literal '9223372036854775808' does not fit in i64\n"
        "    1 | 9223372036854775808 x 0x8000000000000000 99999999999999999999999 7\n"
        "      | ^\n"
        "t.tile:1:23: error: integer literal '0x8000000000000000' does not fit in i64\n"
        "    1 | 9223372036854775808 x 0x8000000000000000 99999999999999999999999 7\n"
        "      |                       ^\n"
        "t.tile:1:42: error: integer literal '99999999999999999999999' does not fit in i64\n"
        "    1 | 9223372036854775808 x 0x8000000000000000 99999999999999999999999 7\n"
        "      |                                          ^\n");
    done(&L);
    /* a very long literal is quoted shortened */
    char buf[200];
    memset(buf, '9', 100);
    buf[100] = 0;
    lex(&L, buf);
    assert_non_null(strstr(L.err, "error: integer literal '9999999999999999999999999999999999999999...' "
                                  "does not fit in i64\n"));
    done(&L);
}

static void test_bad_numbers(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1");
    check_kinds(&L, 9, T_INT, T_INT, T_INT, T_INT, T_INT, T_INT, T_INT, T_FLOAT, T_INT);
    assert_true(L.toks[8].val.ival == 1);
    assert_string_equal(L.err,
        "t.tile:1:1: error: invalid number literal '123abc'\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      | ^\n"
        "t.tile:1:8: error: invalid number literal '1.5.3'\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      |        ^\n"
        "t.tile:1:14: error: invalid number literal '0x'\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      |              ^\n"
        "t.tile:1:17: error: invalid number literal '0xG'\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      |                 ^\n"
        "t.tile:1:21: error: invalid number literal '1e'\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      |                     ^\n"
        "t.tile:1:24: error: invalid number literal '1.5f'\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      |                        ^\n"
        "t.tile:1:29: error: invalid number literal '.5x'\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      |                             ^\n"
        "t.tile:1:33: error: float literal '1e999' is out of range for f32 (the largest is 3.4028235e38)\n"
        "    1 | 123abc 1.5.3 0x 0xG 1e 1.5f .5x 1e999 1\n"
        "      |                                 ^\n");
    done(&L);
}

static void test_unterminated_string(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "print(\"abc);\nlet x = \"ok\";\n\"tail\\");
    check_kinds(&L, 9, T_NAME, T_LPAREN, T_STRING, KW_LET, T_NAME, T_ASSIGN, T_STRING, T_SEMI, T_STRING);
    assert_string_equal(L.toks[8].val.str, "tail\\");
    assert_string_equal(L.toks[2].val.str, "abc);");
    assert_string_equal(L.toks[6].val.str, "ok");
    assert_string_equal(L.err,
        "t.tile:1:7: error: unterminated string literal\n"
        "    1 | print(\"abc);\n"
        "      |       ^\n"
        "t.tile:3:1: error: unterminated string literal\n"
        "    3 | \"tail\\\n"
        "      | ^\n");
    done(&L);
}

static void test_bad_escapes(void **state)
{
    (void)state;
    lexed L;
    lex_n(&L, "\"a\\qb\" \"x\0y\"", 12);
    check_kinds(&L, 2, T_STRING, T_STRING);
    assert_string_equal(L.toks[0].val.str, "ab");
    assert_string_equal(L.toks[1].val.str, "xy");
    assert_string_equal(L.err,
        "t.tile:1:3: error: unknown escape sequence '\\q' in string\n"
        "    1 | \"a\\qb\" \"x?y\"\n"
        "      |   ^\n"
        "t.tile:1:10: error: NUL byte in string literal\n"
        "    1 | \"a\\qb\" \"x?y\"\n"
        "      |          ^\n");
    done(&L);
}

static void test_unterminated_comment(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "a /* never\n closed * / b");
    check_kinds(&L, 1, T_NAME);
    assert_string_equal(L.err,
        "t.tile:1:3: error: unterminated block comment\n"
        "    1 | a /* never\n"
        "      |   ^\n");
    done(&L);
    lex(&L, "/*");
    assert_int_equal(L.n, 0);
    assert_non_null(strstr(L.err, "t.tile:1:1: error: unterminated block comment\n"));
    done(&L);
    lex(&L, "/* ends in stars **");
    assert_int_equal(L.n, 0);
    assert_non_null(strstr(L.err, "unterminated block comment"));
    done(&L);
}

static void test_stray_characters(void **state)
{
    (void)state;
    lexed L;
    /* a run of bad bytes is one error; lexing goes on after it */
    lex_n(&L, "a @ b $$$ c\x01 d \xc3\xa9\xe2\x82\xac e \0 f #`", 29);
    check_kinds(&L, 15, T_NAME, T_BAD, T_NAME, T_BAD, T_BAD, T_BAD, T_NAME, T_BAD, T_NAME, T_BAD, T_NAME,
                T_BAD, T_NAME, T_BAD, T_BAD);
    assert_string_equal(L.toks[12].val.str, "f");
    assert_string_equal(L.err,
        "t.tile:1:3: error: unexpected character '@'\n"
        "    1 | a @ b $$$ c? d \xc3\xa9\xe2\x82\xac e ? f #`\n"
        "      |   ^\n"
        "t.tile:1:7: error: unexpected character '$'\n"
        "    1 | a @ b $$$ c? d \xc3\xa9\xe2\x82\xac e ? f #`\n"
        "      |       ^\n"
        "t.tile:1:12: error: unexpected control character 0x01\n"
        "    1 | a @ b $$$ c? d \xc3\xa9\xe2\x82\xac e ? f #`\n"
        "      |            ^\n"
        "t.tile:1:16: error: non-ASCII character outside a string or comment\n"
        "    1 | a @ b $$$ c? d \xc3\xa9\xe2\x82\xac e ? f #`\n"
        "      |                ^\n"
        "t.tile:1:24: error: unexpected NUL byte\n"
        "    1 | a @ b $$$ c? d \xc3\xa9\xe2\x82\xac e ? f #`\n"
        "      |                        ^\n"
        "t.tile:1:28: error: unexpected character '#'\n"
        "    1 | a @ b $$$ c? d \xc3\xa9\xe2\x82\xac e ? f #`\n"
        "      |                            ^\n");
    done(&L);
}

static void test_non_ascii_in_comments(void **state)
{
    (void)state;
    lexed L;
    lex(&L, "// \xce\xbb comment\n/* \xe2\x82\xac */ x");
    check_kinds(&L, 1, T_NAME);
    assert_string_equal(L.err, "");
    check_loc(&L.toks[0], 2, 11, 2, 11);  /* columns count bytes */
    done(&L);
}

static void test_two_scanners(void **state)
{
    (void)state;
    /* no global state: two scans interleaved through the same process */
    lexed A, B;
    lex(&A, "let a = 1;");
    lex(&B, "fn g() {}");
    check_kinds(&A, 5, KW_LET, T_NAME, T_ASSIGN, T_INT, T_SEMI);
    check_kinds(&B, 6, KW_FN, T_NAME, T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE);
    done(&A);
    done(&B);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_punctuation),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_locations),
        cmocka_unit_test(test_int_overflow),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_unterminated_string),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_unterminated_comment),
        cmocka_unit_test(test_stray_characters),
        cmocka_unit_test(test_non_ascii_in_comments),
        cmocka_unit_test(test_two_scanners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
