%define api.pure full
%locations
%param {void *scanner}
%code provides { int yylex(YYSTYPE *lval, YYLTYPE *lloc, void *scanner); void yyerror(YYLTYPE *l, void *scanner, const char *m); }
%%
file: %empty ;
%%
void yyerror(YYLTYPE *l, void *scanner, const char *m) { (void)l; (void)scanner; (void)m; }
