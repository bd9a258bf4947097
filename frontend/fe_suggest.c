/* fe_suggest.c - "did you mean" for misspelled names (fe_suggest in
 * frontend.h): the candidate nearest by edit distance (insertions,
 * deletions, substitutions and swaps of two neighbours, each costing one),
 * offered only when it is close enough to be a likely typo: at most one
 * edit for names of up to four characters, two up to eight, three beyond
 * (none for a one-letter name).
 * Ties go to the candidate added first, so callers add the nearest scope
 * first and the result does not depend on hashing. */
#include "frontend.h"

#include <ctype.h>
#include <string.h>

enum { MAX_LEN = 64 };

/* Twice the optimal string alignment distance: a substitution that only
 * changes case costs half an edit, so `Exp` prefers `exp` to `exp2`. */
static int distance2(const char *a, const char *b)
{
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > MAX_LEN || m > MAX_LEN) return 1 << 20;
    int d[MAX_LEN + 1][MAX_LEN + 1];
    for (int i = 0; i <= n; i++) d[i][0] = 2 * i;
    for (int j = 0; j <= m; j++) d[0][j] = 2 * j;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int sub = a[i - 1] == b[j - 1] ? 0
                      : tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 1 : 2;
            int best = d[i - 1][j - 1] + sub;
            if (d[i - 1][j] + 2 < best) best = d[i - 1][j] + 2;
            if (d[i][j - 1] + 2 < best) best = d[i][j - 1] + 2;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 2 < best)
                best = d[i - 2][j - 2] + 2;
            d[i][j] = best;
        }
    return d[n][m];
}

void fe_suggest_init(fe_suggest *s, const char *name)
{
    size_t len = name ? strlen(name) : 0;
    s->name = name;
    s->best = NULL;
    s->limit2 = len <= 4 ? 2 : len <= 8 ? 4 : 6;
    s->dist2 = s->limit2 + 1;
}

void fe_suggest_add(fe_suggest *s, const char *cand)
{
    if (!s->name || !cand || !*cand || strcmp(cand, s->name) == 0) return;
    if (s->best && strcmp(cand, s->best) == 0) return;
    /* A one-letter name is one edit from too much: offer nothing rather
     * than noise. */
    if (strlen(s->name) == 1) return;
    int d = distance2(s->name, cand);
    if (d < s->dist2) {
        s->dist2 = d;
        s->best = cand;
    }
}

const char *fe_suggest_best(const fe_suggest *s)
{
    return s->dist2 <= s->limit2 ? s->best : NULL;
}

const char *fe_did_you_mean(arena *mem, const fe_suggest *s)
{
    const char *b = fe_suggest_best(s);
    if (!b) return "";
    const char *r = arena_printf(mem, "; did you mean '%s'?", b);
    return r ? r : "";
}
