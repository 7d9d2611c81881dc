/* template.c: mapping templates: a bounded subset of Velocity (VTL) as API Gateway uses it
 * (spec 5.3). */
#include "routes/route_internal.h"
#include "common/b64.h"
#include "common/err.h"
#include "common/mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Supported subset (API Gateway runs Apache Velocity 1.7; this is what Portico understands):
 *
 * Text and comments
 *   Text is copied as is. "## ..." comments to the end of the line (newline included),
 *   "#* ... *#" block comments, "#[[ ... ]]#" unparsed text. "\$" and "\#" give a literal
 *   "$" / "#". A "$" or "#" that starts no reference or directive is literal text.
 *
 * References
 *   $name, ${name}, $!name, $!{name}, followed by .property, .method(args) and [index], e.g.
 *   $input.json('$.a'), $map['key'], $list[0], $context.identity.sourceIp.
 *   Identifiers are [A-Za-z_][A-Za-z0-9_]* (Velocity 1.7 also allows '-', which makes
 *   "$a-$b" a single reference; Portico does not).
 *   A reference whose value is null renders as nothing (Velocity would print the reference's
 *   source text unless written $!name; API Gateway templates rely on empty output).
 *
 * Directives (#{name} braces allowed; a directive that ends its line also takes the newline;
 * #set also drops the blanks before it on its line)
 *   #if(cond) ... #elseif(cond) ... #else ... #end
 *   #foreach($x in list|map|[1..n]) ... #end  (a map iterates its values; at most 1000
 *       iterations, as API Gateway's quota says: further items are skipped); $foreach.index,
 *       .count, .hasNext, .first, .last and $velocityCount inside; #break leaves the loop
 *       (outside a loop it stops the template).
 *   #set($name = expr)  (setting a property, e.g. #set($a.b = 1), is ignored)
 *   #define, #macro, #include, #parse, #evaluate, #stop: PT_EPARSE.
 *
 * Expressions
 *   'single' (literal) and "double" (interpolated) strings, integers, reals, true, false,
 *   null, [a, b], [1..5] (at most 1000 items), {"k": v}; || && ! (and or not), == != < > <= >=
 *   (eq ne lt gt le ge), + - * / % and parentheses. Velocity 1.7 rules: only null and false
 *   are false; == compares numbers numerically and anything else by text; + concatenates
 *   when either side is a string; integer division truncates; x/0 is null.
 *
 * Values and methods (Java's behaviour where it matters; containers are read-only)
 *   strings: length() (bytes), isEmpty(), trim(), toLowerCase(), toUpperCase() (ASCII),
 *     contains, startsWith, endsWith, equals, equalsIgnoreCase, indexOf, lastIndexOf,
 *     substring(a[,b]) (byte offsets), replace(a,b), replaceAll(re,r), replaceFirst(re,r),
 *     split(re), matches(re), toString(). Regular expressions are Java syntax run as POSIX
 *     extended (\d \s \w translated; back-references refused).
 *   lists: size(), isEmpty(), get(i), contains(x), [i]. maps: get(k), containsKey(k),
 *     keySet(), values(), entrySet() (items with .key/.value), size(), isEmpty(), .key, ['k'].
 *   Rendering: a map renders as Java's Map.toString ({a=1, b={c=2}}) with lists inside it as
 *     compact JSON, as API Gateway renders $input.path results; a list renders as compact
 *     JSON; reals in their shortest form.
 *
 * API Gateway variables
 *   $input.body: the input as text ("{}" when empty, as AWS).
 *   $input.json('path'): compact JSON of the value at a JSONPath ($, .name, ['name'], [0]);
 *     "\"\"" (an empty JSON string) when the input is not JSON or the path is missing.
 *   $input.path('path'): the value itself (usable in #foreach/#if, .size() ...); null when
 *     missing; $input.path('$') of an input that is not JSON is the raw text.
 *   $input.params(): {path={}, querystring={...}, header={...}} (CONNECT only has values);
 *     $input.params('name') searches path, querystring, then header ("" when missing).
 *   $context.*: every variable route_ctx_var knows; $context.authorizer and
 *     $context.identity are also maps.
 *   $stageVariables.name, $stageVariables['name'], ${stageVariables.name}.
 *   $util.escapeJavaScript(s) (Commons Lang rules: ' " \ / and control characters escaped,
 *     non-ASCII as \uXXXX), $util.parseJson(s) (null when not JSON), $util.urlEncode(s)
 *     (java.net.URLEncoder: space as '+'), $util.urlDecode(s) (null when malformed),
 *     $util.base64Encode(s), $util.base64Decode(s) (raw bytes; null when malformed).
 *
 * Limits (all give PT_ETOOBIG): output or any string value over 1 MiB; more than 500,000
 * evaluation steps; containers built by the template nested more than 64 deep. Nesting of
 * directives, references or parentheses deeper than 64, or an expression tree higher than 256
 * (a chain of 256 operators), is a parse error (PT_EPARSE), so no input can exhaust the stack.
 */

enum {
    MAX_OUT = 1 << 20,
    MAX_ITER = 1000,
    MAX_DEPTH = 64,
    MAX_STEPS = 500000,
    MAX_RENDER_DEPTH = 2200,
    MAX_HEIGHT = 256, /* expression tree height: bounds the recursion of evaluation */
};

/* ============================================================================================
 * Arena for the syntax tree: one template's nodes are freed together.
 * ========================================================================================== */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk_t;

typedef struct arena {
    chunk_t *head;
} arena_t;

static void *ar_alloc(arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        chunk_t *c = pt_xmalloc(sizeof *c + cap);
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void ar_free(arena_t *a)
{
    while (a->head) {
        chunk_t *c = a->head;
        a->head = c->next;
        free(c);
    }
}

#define VEC_PUSH(ar, arr, n, cap, item)                                                            \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            size_t nc_ = (cap) ? (cap)*2 : 4;                                                      \
            void *nv_ = ar_alloc((ar), nc_ * sizeof *(arr));                                       \
            if (n)                                                                                 \
                memcpy(nv_, (arr), (n) * sizeof *(arr));                                           \
            (arr) = nv_;                                                                           \
            (cap) = nc_;                                                                           \
        }                                                                                          \
        (arr)[(n)++] = (item);                                                                     \
    } while (0)

/* ============================================================================================
 * Syntax tree
 * ========================================================================================== */

typedef struct node node_t;
typedef struct expr expr_t;

typedef struct nodes {
    node_t **v;
    size_t n, cap;
} nodes_t;

typedef enum { N_TEXT, N_REF, N_IF, N_FOREACH, N_SET, N_BREAK } node_kind_t;

struct node {
    node_kind_t kind;
    const char *text; /* N_TEXT: points into the template */
    size_t len;
    expr_t *ref; /* N_REF, N_SET target */
    /* N_IF */
    expr_t **conds;
    nodes_t *bodies;
    size_t nbranch, capbranch, nbodies, capbodies;
    nodes_t else_body;
    /* N_FOREACH, N_SET */
    const char *var;
    expr_t *value; /* foreach list, set value */
    nodes_t body;
};

typedef enum { S_PROP, S_CALL, S_INDEX } seg_kind_t;

typedef struct seg {
    seg_kind_t kind;
    const char *name;
    expr_t **args;
    size_t nargs, capargs;
    expr_t *index;
} seg_t;

typedef enum { E_LIT, E_STR, E_REF, E_LIST, E_RANGE, E_MAP, E_NOT, E_NEG, E_BIN } expr_kind_t;

typedef enum {
    OP_OR,
    OP_AND,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_GT,
    OP_LE,
    OP_GE,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD
} op_t;

struct expr {
    expr_kind_t kind;
    json_t *lit;      /* E_LIT (owned by the parser's literal list) */
    nodes_t parts;    /* E_STR */
    const char *root; /* E_REF */
    seg_t *segs;
    size_t nsegs, capsegs;
    expr_t **items; /* E_LIST, E_RANGE (2), E_MAP (key, value, key, value...) */
    size_t nitems, capitems;
    op_t op;
    expr_t *a, *b;
    int height; /* 1 for a leaf; checked against MAX_HEIGHT as the tree is built */
};

/* ============================================================================================
 * Parser
 * ========================================================================================== */

typedef struct parser {
    const char *s;
    size_t n, i;
    arena_t *ar;
    buf_t *err;
    int depth;
    int soft; /* > 0 while trying a reference in text: failures are not errors */
    bool failed;
    json_t **lits; /* owned: literal values, released with the tree */
    size_t nlits, caplits;
} parser_t;

typedef enum { T_EOF, T_END, T_ELSE, T_ELSEIF } term_t;

static void perr(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void perr(parser_t *p, const char *fmt, ...)
{
    if (p->soft)
        return;
    p->failed = true;
    if (!p->err || p->err->len)
        return;
    int line = 1;
    for (size_t k = 0; k < p->i && k < p->n; k++)
        line += p->s[k] == '\n';
    va_list ap;
    va_start(ap, fmt);
    buf_printf(p->err, "template line %d: ", line);
    buf_vprintf(p->err, fmt, ap);
    va_end(ap);
}

static json_t *keep_lit(parser_t *p, json_t *v)
{
    if (p->nlits == p->caplits) {
        p->caplits = p->caplits ? p->caplits * 2 : 16;
        p->lits = pt_xrealloc(p->lits, p->caplits * sizeof *p->lits);
    }
    p->lits[p->nlits++] = v;
    return v;
}

static bool is_id0(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_id(char c)
{
    return is_id0(c) || (c >= '0' && c <= '9');
}

static char peek(const parser_t *p, size_t k)
{
    return p->i + k < p->n ? p->s[p->i + k] : '\0';
}

static void skip_ws(parser_t *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static const char *read_id(parser_t *p)
{
    size_t s = p->i;
    if (!is_id0(peek(p, 0)))
        return NULL;
    while (p->i < p->n && is_id(p->s[p->i]))
        p->i++;
    char *id = ar_alloc(p->ar, p->i - s + 1);
    memcpy(id, p->s + s, p->i - s);
    return id;
}

static expr_t *new_expr(parser_t *p, expr_kind_t k)
{
    expr_t *e = ar_alloc(p->ar, sizeof *e);
    e->kind = k;
    e->height = 1;
    return e;
}

/* Records that child hangs below e. A chain such as 1+1+...+1 parses in a loop but evaluates
 * recursively, so the height of the tree, not the nesting of the text, is what is bounded. */
static bool grow(parser_t *p, expr_t *e, const expr_t *child)
{
    if (child->height + 1 > e->height)
        e->height = child->height + 1;
    if (e->height > MAX_HEIGHT) {
        perr(p, "expression deeper than %d", MAX_HEIGHT);
        return false;
    }
    return true;
}

static expr_t *parse_expr(parser_t *p);
static expr_t *parse_ref(parser_t *p);
static int parse_block(parser_t *p, nodes_t *out, term_t *term);

static bool enter(parser_t *p)
{
    if (++p->depth > MAX_DEPTH) {
        perr(p, "nesting deeper than %d", MAX_DEPTH);
        return false;
    }
    return true;
}

/* Text with references only (the inside of a "double-quoted" string). */
static void parse_interpolated(parser_t *p, size_t end, nodes_t *out)
{
    size_t start = p->i;
    while (p->i < end) {
        char c = p->s[p->i];
        if (c == '\\' && p->i + 1 < end && (p->s[p->i + 1] == '$' || p->s[p->i + 1] == '#')) {
            if (p->i > start) {
                node_t *t = ar_alloc(p->ar, sizeof *t);
                t->kind = N_TEXT;
                t->text = p->s + start;
                t->len = p->i - start;
                VEC_PUSH(p->ar, out->v, out->n, out->cap, t);
            }
            start = p->i + 1; /* keep the escaped character, drop the backslash */
            p->i += 2;
            continue;
        }
        if (c != '$') {
            p->i++;
            continue;
        }
        size_t at = p->i;
        size_t saved_n = p->n;
        p->n = end; /* a reference may not run past the closing quote */
        p->soft++;
        expr_t *r = parse_ref(p);
        p->soft--;
        p->n = saved_n;
        if (!r) {
            p->i = at + 1;
            continue;
        }
        if (at > start) {
            node_t *t = ar_alloc(p->ar, sizeof *t);
            t->kind = N_TEXT;
            t->text = p->s + start;
            t->len = at - start;
            VEC_PUSH(p->ar, out->v, out->n, out->cap, t);
        }
        node_t *rn = ar_alloc(p->ar, sizeof *rn);
        rn->kind = N_REF;
        rn->ref = r;
        VEC_PUSH(p->ar, out->v, out->n, out->cap, rn);
        start = p->i;
    }
    if (p->i > start) {
        node_t *t = ar_alloc(p->ar, sizeof *t);
        t->kind = N_TEXT;
        t->text = p->s + start;
        t->len = p->i - start;
        VEC_PUSH(p->ar, out->v, out->n, out->cap, t);
    }
}

static bool parse_args(parser_t *p, seg_t *sg, expr_t *ref)
{
    p->i++; /* '(' */
    skip_ws(p);
    if (peek(p, 0) == ')') {
        p->i++;
        return true;
    }
    for (;;) {
        expr_t *a = parse_expr(p);
        if (!a || !grow(p, ref, a))
            return false;
        VEC_PUSH(p->ar, sg->args, sg->nargs, sg->capargs, a);
        skip_ws(p);
        if (peek(p, 0) == ',') {
            p->i++;
            continue;
        }
        if (peek(p, 0) == ')') {
            p->i++;
            return true;
        }
        perr(p, "expected ',' or ')' in method arguments");
        return false;
    }
}

/* A reference at p->i ('$'). Returns NULL (and, unless soft, an error) when malformed. */
static expr_t *parse_ref(parser_t *p)
{
    size_t start = p->i;
    expr_t *e = NULL;
    bool braced = false;

    if (!enter(p))
        goto fail;
    p->i++; /* '$' */
    if (peek(p, 0) == '!')
        p->i++;
    if (peek(p, 0) == '{') {
        braced = true;
        p->i++;
    }
    const char *root = read_id(p);
    if (!root) {
        perr(p, "'$' must start a reference");
        goto fail;
    }
    e = new_expr(p, E_REF);
    e->root = root;
    for (;;) {
        seg_t sg;
        memset(&sg, 0, sizeof sg);
        if (peek(p, 0) == '.' && is_id0(peek(p, 1))) {
            p->i++;
            sg.name = read_id(p);
            if (peek(p, 0) == '(') {
                sg.kind = S_CALL;
                if (!parse_args(p, &sg, e))
                    goto fail;
            } else {
                sg.kind = S_PROP;
            }
        } else if (peek(p, 0) == '[') {
            p->i++;
            sg.kind = S_INDEX;
            sg.index = parse_expr(p);
            if (!sg.index || !grow(p, e, sg.index))
                goto fail;
            skip_ws(p);
            if (peek(p, 0) != ']') {
                perr(p, "expected ']'");
                goto fail;
            }
            p->i++;
        } else {
            break;
        }
        VEC_PUSH(p->ar, e->segs, e->nsegs, e->capsegs, sg);
    }
    if (braced) {
        if (peek(p, 0) != '}') {
            perr(p, "expected '}' to close '${'");
            goto fail;
        }
        p->i++;
    }
    p->depth--;
    return e;
fail:
    p->depth--;
    p->i = start;
    return NULL;
}

static bool word_at(parser_t *p, const char *w)
{
    size_t k = strlen(w);
    if (p->i + k > p->n || memcmp(p->s + p->i, w, k) != 0)
        return false;
    return p->i + k == p->n || !is_id(p->s[p->i + k]);
}

static expr_t *parse_primary(parser_t *p)
{
    skip_ws(p);
    char c = peek(p, 0);
    if (c == '(') {
        p->i++;
        expr_t *e = parse_expr(p);
        if (!e)
            return NULL;
        skip_ws(p);
        if (peek(p, 0) != ')') {
            perr(p, "expected ')'");
            return NULL;
        }
        p->i++;
        return e;
    }
    if (c == '$')
        return parse_ref(p);
    if (c == '\'') {
        const char *q = memchr(p->s + p->i + 1, '\'', p->n - p->i - 1);
        if (!q) {
            perr(p, "unterminated string");
            return NULL;
        }
        expr_t *e = new_expr(p, E_LIT);
        size_t s = p->i + 1;
        e->lit = keep_lit(p, json_stringn_nocheck(p->s + s, (size_t)(q - p->s) - s));
        p->i = (size_t)(q - p->s) + 1;
        return e;
    }
    if (c == '"') {
        const char *q = memchr(p->s + p->i + 1, '"', p->n - p->i - 1);
        if (!q) {
            perr(p, "unterminated string");
            return NULL;
        }
        expr_t *e = new_expr(p, E_STR);
        size_t end = (size_t)(q - p->s);
        p->i++;
        parse_interpolated(p, end, &e->parts);
        p->i = end + 1;
        for (size_t k = 0; k < e->parts.n; k++)
            if (e->parts.v[k]->kind == N_REF && !grow(p, e, e->parts.v[k]->ref))
                return NULL;
        return e;
    }
    if (c >= '0' && c <= '9') {
        size_t s = p->i;
        bool real = false;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
        if (peek(p, 0) == '.' && peek(p, 1) >= '0' && peek(p, 1) <= '9') {
            real = true;
            p->i++;
            while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
                p->i++;
        }
        char num[64];
        size_t n = p->i - s < sizeof num - 1 ? p->i - s : sizeof num - 1;
        memcpy(num, p->s + s, n);
        num[n] = '\0';
        expr_t *e = new_expr(p, E_LIT);
        e->lit = keep_lit(p, real ? json_real(strtod(num, NULL))
                                  : json_integer((json_int_t)strtoll(num, NULL, 10)));
        return e;
    }
    if (word_at(p, "true") || word_at(p, "false") || word_at(p, "null")) {
        expr_t *e = new_expr(p, E_LIT);
        if (word_at(p, "true")) {
            e->lit = keep_lit(p, json_true());
            p->i += 4;
        } else if (word_at(p, "false")) {
            e->lit = keep_lit(p, json_false());
            p->i += 5;
        } else {
            e->lit = NULL;
            p->i += 4;
        }
        return e;
    }
    if (c == '[') {
        p->i++;
        expr_t *e = new_expr(p, E_LIST);
        skip_ws(p);
        if (peek(p, 0) == ']') {
            p->i++;
            return e;
        }
        for (;;) {
            expr_t *it = parse_expr(p);
            if (!it || !grow(p, e, it))
                return NULL;
            VEC_PUSH(p->ar, e->items, e->nitems, e->capitems, it);
            skip_ws(p);
            if (e->nitems == 1 && peek(p, 0) == '.' && peek(p, 1) == '.') {
                p->i += 2;
                expr_t *hi = parse_expr(p);
                if (!hi || !grow(p, e, hi))
                    return NULL;
                VEC_PUSH(p->ar, e->items, e->nitems, e->capitems, hi);
                skip_ws(p);
                if (peek(p, 0) != ']') {
                    perr(p, "expected ']' after a range");
                    return NULL;
                }
                p->i++;
                e->kind = E_RANGE;
                return e;
            }
            if (peek(p, 0) == ',') {
                p->i++;
                continue;
            }
            if (peek(p, 0) == ']') {
                p->i++;
                return e;
            }
            perr(p, "expected ',' or ']' in a list");
            return NULL;
        }
    }
    if (c == '{') {
        p->i++;
        expr_t *e = new_expr(p, E_MAP);
        skip_ws(p);
        if (peek(p, 0) == '}') {
            p->i++;
            return e;
        }
        for (;;) {
            expr_t *k = parse_expr(p);
            if (!k)
                return NULL;
            skip_ws(p);
            if (peek(p, 0) != ':') {
                perr(p, "expected ':' in a map");
                return NULL;
            }
            p->i++;
            expr_t *v = parse_expr(p);
            if (!v || !grow(p, e, k) || !grow(p, e, v))
                return NULL;
            VEC_PUSH(p->ar, e->items, e->nitems, e->capitems, k);
            VEC_PUSH(p->ar, e->items, e->nitems, e->capitems, v);
            skip_ws(p);
            if (peek(p, 0) == ',') {
                p->i++;
                continue;
            }
            if (peek(p, 0) == '}') {
                p->i++;
                return e;
            }
            perr(p, "expected ',' or '}' in a map");
            return NULL;
        }
    }
    perr(p, "unexpected %s in an expression", c ? "character" : "end of template");
    return NULL;
}

static expr_t *parse_unary(parser_t *p)
{
    if (!enter(p))
        return NULL;
    skip_ws(p);
    expr_t *e;
    if (peek(p, 0) == '!' && peek(p, 1) != '=') {
        p->i++;
        e = new_expr(p, E_NOT);
        e->a = parse_unary(p);
        if (!e->a || !grow(p, e, e->a))
            e = NULL;
    } else if (word_at(p, "not")) {
        p->i += 3;
        e = new_expr(p, E_NOT);
        e->a = parse_unary(p);
        if (!e->a || !grow(p, e, e->a))
            e = NULL;
    } else if (peek(p, 0) == '-') {
        p->i++;
        e = new_expr(p, E_NEG);
        e->a = parse_unary(p);
        if (!e->a || !grow(p, e, e->a))
            e = NULL;
    } else {
        e = parse_primary(p);
    }
    p->depth--;
    return e;
}

/* Binary operators by precedence level, loosest first. */
typedef struct opdef {
    const char *sym;
    const char *word;
    op_t op;
} opdef_t;

static const opdef_t LV_OR[] = {{"||", "or", OP_OR}, {NULL, NULL, 0}};
static const opdef_t LV_AND[] = {{"&&", "and", OP_AND}, {NULL, NULL, 0}};
static const opdef_t LV_EQ[] = {{"==", "eq", OP_EQ}, {"!=", "ne", OP_NE}, {NULL, NULL, 0}};
static const opdef_t LV_REL[] = {{"<=", "le", OP_LE},
                                 {">=", "ge", OP_GE},
                                 {"<", "lt", OP_LT},
                                 {">", "gt", OP_GT},
                                 {NULL, NULL, 0}};
static const opdef_t LV_ADD[] = {{"+", NULL, OP_ADD}, {"-", NULL, OP_SUB}, {NULL, NULL, 0}};
static const opdef_t LV_MUL[] = {
    {"*", NULL, OP_MUL}, {"/", NULL, OP_DIV}, {"%", NULL, OP_MOD}, {NULL, NULL, 0}};
static const opdef_t *const LEVELS[] = {LV_OR, LV_AND, LV_EQ, LV_REL, LV_ADD, LV_MUL};

static const opdef_t *match_op(parser_t *p, const opdef_t *defs)
{
    for (const opdef_t *d = defs; d->sym; d++) {
        size_t k = strlen(d->sym);
        if (p->i + k <= p->n && memcmp(p->s + p->i, d->sym, k) == 0) {
            p->i += k;
            return d;
        }
        if (d->word && word_at(p, d->word)) {
            p->i += strlen(d->word);
            return d;
        }
    }
    return NULL;
}

static expr_t *parse_level(parser_t *p, size_t lv)
{
    if (lv == PT_ARRAY_LEN(LEVELS))
        return parse_unary(p);
    expr_t *a = parse_level(p, lv + 1);
    while (a) {
        skip_ws(p);
        const opdef_t *d = match_op(p, LEVELS[lv]);
        if (!d)
            break;
        expr_t *b = parse_level(p, lv + 1);
        if (!b) {
            a = NULL;
            break;
        }
        expr_t *e = new_expr(p, E_BIN);
        e->op = d->op;
        e->a = a;
        e->b = b;
        a = grow(p, e, a) && grow(p, e, b) ? e : NULL;
    }
    return a;
}

static expr_t *parse_expr(parser_t *p)
{
    if (!enter(p))
        return NULL;
    expr_t *e = parse_level(p, 0);
    p->depth--;
    return e;
}

/* After a directive: a line that ends right there gives up its newline (Velocity 1.7). */
static void gobble_eol(parser_t *p)
{
    size_t j = p->i;
    while (j < p->n && (p->s[j] == ' ' || p->s[j] == '\t'))
        j++;
    if (j < p->n && p->s[j] == '\n')
        p->i = j + 1;
    else if (j + 1 < p->n && p->s[j] == '\r' && p->s[j + 1] == '\n')
        p->i = j + 2;
}

static expr_t *parse_paren_expr(parser_t *p)
{
    while (peek(p, 0) == ' ' || peek(p, 0) == '\t')
        p->i++;
    if (peek(p, 0) != '(') {
        perr(p, "expected '(' after the directive");
        return NULL;
    }
    p->i++;
    expr_t *e = parse_expr(p);
    if (!e)
        return NULL;
    skip_ws(p);
    if (peek(p, 0) != ')') {
        perr(p, "expected ')'");
        return NULL;
    }
    p->i++;
    return e;
}

static void add_text(parser_t *p, nodes_t *out, size_t from, size_t to)
{
    if (to <= from)
        return;
    node_t *t = ar_alloc(p->ar, sizeof *t);
    t->kind = N_TEXT;
    t->text = p->s + from;
    t->len = to - from;
    VEC_PUSH(p->ar, out->v, out->n, out->cap, t);
}

static int parse_if(parser_t *p, node_t *nd)
{
    expr_t *cond = parse_paren_expr(p);
    term_t term;
    if (!cond)
        return PT_EPARSE;
    gobble_eol(p);
    for (;;) {
        nodes_t body = {0};
        if (parse_block(p, &body, &term) != PT_OK)
            return PT_EPARSE;
        VEC_PUSH(p->ar, nd->conds, nd->nbranch, nd->capbranch, cond);
        VEC_PUSH(p->ar, nd->bodies, nd->nbodies, nd->capbodies, body);
        if (term == T_ELSEIF) {
            cond = parse_paren_expr(p);
            if (!cond)
                return PT_EPARSE;
            gobble_eol(p);
            continue;
        }
        if (term == T_ELSE) {
            if (parse_block(p, &nd->else_body, &term) != PT_OK)
                return PT_EPARSE;
            if (term != T_END) {
                perr(p, term == T_EOF ? "#if without #end" : "#else or #elseif after #else");
                return PT_EPARSE;
            }
            return PT_OK;
        }
        if (term == T_END)
            return PT_OK;
        perr(p, "#if without #end");
        return PT_EPARSE;
    }
}

static int parse_foreach(parser_t *p, node_t *nd)
{
    term_t term;
    while (peek(p, 0) == ' ' || peek(p, 0) == '\t')
        p->i++;
    if (peek(p, 0) != '(')
        goto bad;
    p->i++;
    skip_ws(p);
    if (peek(p, 0) != '$')
        goto bad;
    p->i++;
    bool braced = peek(p, 0) == '{';
    if (braced)
        p->i++;
    nd->var = read_id(p);
    if (!nd->var || (braced && peek(p, 0) != '}'))
        goto bad;
    if (braced)
        p->i++;
    skip_ws(p);
    if (!word_at(p, "in"))
        goto bad;
    p->i += 2;
    nd->value = parse_expr(p);
    if (!nd->value)
        return PT_EPARSE;
    skip_ws(p);
    if (peek(p, 0) != ')')
        goto bad;
    p->i++;
    gobble_eol(p);
    if (parse_block(p, &nd->body, &term) != PT_OK)
        return PT_EPARSE;
    if (term != T_END) {
        perr(p, term == T_EOF ? "#foreach without #end" : "#else inside #foreach");
        return PT_EPARSE;
    }
    return PT_OK;
bad:
    perr(p, "malformed #foreach: expected #foreach($item in $list)");
    return PT_EPARSE;
}

static int parse_set(parser_t *p, node_t *nd, nodes_t *out)
{
    while (peek(p, 0) == ' ' || peek(p, 0) == '\t')
        p->i++;
    if (peek(p, 0) != '(')
        goto bad;
    p->i++;
    skip_ws(p);
    if (peek(p, 0) != '$')
        goto bad;
    nd->ref = parse_ref(p);
    if (!nd->ref)
        return PT_EPARSE;
    skip_ws(p);
    if (peek(p, 0) != '=')
        goto bad;
    p->i++;
    nd->value = parse_expr(p);
    if (!nd->value)
        return PT_EPARSE;
    skip_ws(p);
    if (peek(p, 0) != ')')
        goto bad;
    p->i++;
    /* #set takes its whole line: drop the blanks before it. */
    if (out->n && out->v[out->n - 1]->kind == N_TEXT) {
        node_t *t = out->v[out->n - 1];
        size_t k = t->len;
        while (k > 0 && (t->text[k - 1] == ' ' || t->text[k - 1] == '\t'))
            k--;
        if (k == 0 ? t->text == p->s : t->text[k - 1] == '\n')
            t->len = k;
    }
    gobble_eol(p);
    return PT_OK;
bad:
    perr(p, "malformed #set: expected #set($name = value)");
    return PT_EPARSE;
}

/* Handles the '#' at p->i. Returns PT_OK with *handled false when it is plain text. */
static int parse_hash(parser_t *p, nodes_t *out, term_t *term, bool *done, bool *handled)
{
    size_t at = p->i;
    *handled = true;
    if (peek(p, 1) == '#') { /* ## comment, newline included */
        const char *nl = memchr(p->s + p->i, '\n', p->n - p->i);
        p->i = nl ? (size_t)(nl - p->s) + 1 : p->n;
        return PT_OK;
    }
    if (peek(p, 1) == '*') { /* #* block comment *# */
        const char *e = memmem(p->s + p->i + 2, p->n - p->i - 2, "*#", 2);
        p->i = e ? (size_t)(e - p->s) + 2 : p->n;
        return PT_OK;
    }
    if (peek(p, 1) == '[' && peek(p, 2) == '[') { /* #[[ unparsed ]]# */
        const char *e = memmem(p->s + p->i + 3, p->n - p->i - 3, "]]#", 3);
        size_t end = e ? (size_t)(e - p->s) : p->n;
        add_text(p, out, p->i + 3, end);
        p->i = e ? end + 3 : p->n;
        return PT_OK;
    }
    p->i++;
    bool braced = peek(p, 0) == '{';
    if (braced)
        p->i++;
    size_t ns = p->i;
    while (p->i < p->n &&
           ((p->s[p->i] >= 'a' && p->s[p->i] <= 'z') || (p->s[p->i] >= 'A' && p->s[p->i] <= 'Z')))
        p->i++;
    size_t nl = p->i - ns;
    const char *name = p->s + ns;
    if (braced ? peek(p, 0) != '}' : (nl == 0 || is_id(peek(p, 0)))) {
        p->i = at;
        *handled = false;
        return PT_OK;
    }
    if (braced)
        p->i++;
#define NAME(lit) (nl == sizeof(lit) - 1 && memcmp(name, lit, nl) == 0)
    if (NAME("end") || NAME("else") || NAME("elseif")) {
        *term = NAME("end") ? T_END : NAME("else") ? T_ELSE : T_ELSEIF;
        if (*term != T_ELSEIF)
            gobble_eol(p);
        *done = true;
        return PT_OK;
    }
    if (NAME("break")) {
        node_t *nd = ar_alloc(p->ar, sizeof *nd);
        nd->kind = N_BREAK;
        VEC_PUSH(p->ar, out->v, out->n, out->cap, nd);
        gobble_eol(p);
        return PT_OK;
    }
    if (NAME("if") || NAME("foreach") || NAME("set")) {
        node_t *nd = ar_alloc(p->ar, sizeof *nd);
        int rc;
        if (NAME("if")) {
            nd->kind = N_IF;
            if (!enter(p))
                return PT_EPARSE;
            rc = parse_if(p, nd);
            p->depth--;
        } else if (NAME("foreach")) {
            nd->kind = N_FOREACH;
            if (!enter(p))
                return PT_EPARSE;
            rc = parse_foreach(p, nd);
            p->depth--;
        } else {
            nd->kind = N_SET;
            rc = parse_set(p, nd, out);
        }
        if (rc != PT_OK)
            return rc;
        VEC_PUSH(p->ar, out->v, out->n, out->cap, nd);
        return PT_OK;
    }
    if (NAME("define") || NAME("macro") || NAME("include") || NAME("parse") || NAME("evaluate") ||
        NAME("stop")) {
        p->i = at;
        perr(p, "#%.*s is not supported", (int)nl, name);
        return PT_EPARSE;
    }
#undef NAME
    /* Not a directive (Velocity prints unknown #words as they are). */
    p->i = at;
    *handled = false;
    return PT_OK;
}

static int parse_block(parser_t *p, nodes_t *out, term_t *term)
{
    size_t start = p->i;
    *term = T_EOF;
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == '\\' && (peek(p, 1) == '$' || peek(p, 1) == '#')) {
            add_text(p, out, start, p->i);
            start = p->i + 1;
            p->i += 2;
            continue;
        }
        if (c == '$') {
            size_t at = p->i;
            p->soft++;
            expr_t *r = parse_ref(p);
            p->soft--;
            if (!r) {
                p->i = at + 1;
                continue;
            }
            add_text(p, out, start, at);
            node_t *nd = ar_alloc(p->ar, sizeof *nd);
            nd->kind = N_REF;
            nd->ref = r;
            VEC_PUSH(p->ar, out->v, out->n, out->cap, nd);
            start = p->i;
            continue;
        }
        if (c != '#') {
            p->i++;
            continue;
        }
        bool done = false, handled;
        size_t at = p->i;
        add_text(p, out, start, at);
        int rc = parse_hash(p, out, term, &done, &handled);
        if (rc != PT_OK)
            return rc;
        if (!handled) {
            /* A plain '#' starts the text that follows. */
            start = at;
            p->i = at + 1;
            continue;
        }
        start = p->i;
        if (done)
            return PT_OK;
    }
    add_text(p, out, start, p->i);
    return PT_OK;
}

/* ============================================================================================
 * Values
 * ========================================================================================== */

/* A value: a JSON tree (NULL for null) and how deeply the template nested containers to build
 * it (0 for anything that came from input JSON or a builtin), which bounds recursion. */
typedef struct val {
    json_t *j; /* owned reference */
    int d;
} val_t;

static const val_t VNULL = {NULL, 0};

typedef struct var {
    const char *name; /* borrowed from the syntax tree */
    val_t v;
} var_t;

typedef struct fe {
    size_t index, n;
} fe_t;

typedef struct interp {
    const route_ctx_t *ctx;
    const char *input;
    size_t input_len;
    const json_t *input_json;
    json_t *input_tmp; /* owned: lazy parse of the input */
    bool input_parsed;
    json_t *params;    /* owned: $input.params(), built on first use */
    json_t *stagevars; /* owned: $stageVariables as a map, built on first use */
    var_t *vars;       /* owned: open-addressing table */
    size_t nvars, capvars;
    fe_t fe[MAX_DEPTH + 1];
    int nfe;
    size_t steps;
    int err;
    bool brk;  /* #break pending */
    bool stop; /* #break outside a loop */
} interp_t;

static void val_free(val_t v)
{
    if (v.j)
        json_decref(v.j);
}

static val_t val_of(json_t *j, int d) /* takes the reference */
{
    val_t v = {j, d};
    return v;
}

static val_t val_ref(const json_t *j, int d)
{
    val_t v = {j ? json_incref((json_t *)j) : NULL, d};
    return v;
}

static bool step(interp_t *in)
{
    if (in->err)
        return false;
    if (++in->steps > MAX_STEPS) {
        in->err = PT_ETOOBIG;
        return false;
    }
    return true;
}

static bool charge(interp_t *in, size_t bytes);

static val_t mk_str(interp_t *in, const char *s, size_t n)
{
    if (n > MAX_OUT || !charge(in, n)) {
        in->err = PT_ETOOBIG;
        return VNULL;
    }
    return val_of(json_stringn_nocheck(s ? s : "", n), 0);
}

static val_t mk_buf(interp_t *in, buf_t *b) /* frees b */
{
    val_t v = mk_str(in, b->p, b->len);
    buf_free(b);
    return v;
}

static val_t mk_int(json_int_t i)
{
    return val_of(json_integer(i), 0);
}

static val_t mk_bool(bool b)
{
    return val_of(json_boolean(b), 0);
}

/* ---- variables ------------------------------------------------------------------------------ */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static var_t *var_slot(interp_t *in, const char *name, bool create)
{
    if (!in->capvars) {
        if (!create)
            return NULL;
        in->capvars = 16;
        in->vars = pt_xcalloc(in->capvars, sizeof *in->vars);
    }
    if (create && (in->nvars + 1) * 2 > in->capvars) {
        var_t *old = in->vars;
        size_t oldcap = in->capvars;
        in->capvars *= 2;
        in->vars = pt_xcalloc(in->capvars, sizeof *in->vars);
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].name)
                continue;
            size_t s = hash_name(old[i].name) & (in->capvars - 1);
            while (in->vars[s].name)
                s = (s + 1) & (in->capvars - 1);
            in->vars[s] = old[i];
        }
        free(old);
    }
    size_t s = hash_name(name) & (in->capvars - 1);
    while (in->vars[s].name) {
        if (strcmp(in->vars[s].name, name) == 0)
            return &in->vars[s];
        s = (s + 1) & (in->capvars - 1);
    }
    if (!create)
        return NULL;
    in->vars[s].name = name;
    in->vars[s].v = VNULL;
    in->nvars++;
    return &in->vars[s];
}

static void var_set(interp_t *in, const char *name, val_t v) /* takes v */
{
    var_t *slot = var_slot(in, name, true);
    val_free(slot->v);
    slot->v = v;
}

/* ---- text of a value ---------------------------------------------------------------------- */

static bool out_ok(interp_t *in, const buf_t *out, size_t more)
{
    if (in->err)
        return false;
    if (out->len + more > MAX_OUT) {
        in->err = PT_ETOOBIG;
        return false;
    }
    return true;
}

/* Bytes produced cost steps too (one per 64), wherever they go: rendering into temporary
 * buffers (interpolated strings, operands, arguments) is otherwise unbounded work. */
static bool charge(interp_t *in, size_t bytes)
{
    in->steps += bytes / 64;
    if (in->steps > MAX_STEPS && !in->err)
        in->err = PT_ETOOBIG;
    return !in->err;
}

static void put(interp_t *in, buf_t *out, const char *s, size_t n)
{
    if (out_ok(in, out, n) && charge(in, n))
        buf_append(out, s, n);
}

/* Java's toString of what API Gateway's JSONPath returns: maps as {k=v, ...}, lists as JSON. */
static void val_text(interp_t *in, const json_t *v, buf_t *out, int depth, bool top)
{
    char num[32];
    if (in->err || depth > MAX_RENDER_DEPTH)
        return;
    if (!v) {
        if (!top)
            put(in, out, "null", 4);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING:
        put(in, out, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put(in, out, num, strlen(num));
        break;
    case JSON_REAL:
        route__fmt_real(json_real_value(v), num);
        put(in, out, num, strlen(num));
        break;
    case JSON_TRUE:
        put(in, out, "true", 4);
        break;
    case JSON_FALSE:
        put(in, out, "false", 5);
        break;
    case JSON_NULL:
        if (!top)
            put(in, out, "null", 4);
        break;
    case JSON_ARRAY:
        if (out_ok(in, out, 0)) {
            size_t before = out->len;
            route__json_write(out, v);
            if (out_ok(in, out, 0))
                charge(in, out->len - before);
        }
        break;
    case JSON_OBJECT: {
        const char *k;
        size_t kl;
        json_t *x;
        bool first = true;
        put(in, out, "{", 1);
        json_object_keylen_foreach((json_t *)v, k, kl, x)
        {
            if (in->err)
                break;
            if (!first)
                put(in, out, ", ", 2);
            first = false;
            put(in, out, k, kl);
            put(in, out, "=", 1);
            val_text(in, x, out, depth + 1, false);
        }
        put(in, out, "}", 1);
        break;
    }
    }
}

/* The text of a value as a method argument or operand (null: ""). */
static void text_of(interp_t *in, const json_t *v, buf_t *out)
{
    val_text(in, v, out, 0, true);
}

static bool truthy(const json_t *v)
{
    return v && !json_is_null(v) && !json_is_false(v);
}

static bool as_number(const json_t *v, double *d, json_int_t *i, bool *is_int)
{
    if (json_is_integer(v)) {
        *i = json_integer_value(v);
        *d = (double)*i;
        *is_int = true;
        return true;
    }
    if (json_is_real(v)) {
        *d = json_real_value(v);
        *is_int = false;
        return true;
    }
    return false;
}

/* ============================================================================================
 * Evaluation
 * ========================================================================================== */

static val_t eval(interp_t *in, const expr_t *e);
static void exec(interp_t *in, const nodes_t *ns, buf_t *out);

static const json_t *input_json(interp_t *in)
{
    if (in->input_json)
        return in->input_json;
    if (!in->input_parsed) {
        in->input_parsed = true;
        if (in->input_len)
            in->input_tmp = json_loadb(in->input, in->input_len, JSON_DECODE_ANY, NULL);
    }
    return in->input_tmp;
}

/* The value at a JSONPath of the input; *found false when missing. */
static const json_t *input_at(interp_t *in, const json_t *pathv, bool *found)
{
    route_path_step_t *steps = NULL;
    size_t ns = 0;
    const json_t *root = input_json(in);
    const json_t *v = NULL;
    *found = false;
    if (!root || !json_is_string(pathv))
        return NULL;
    if (route__path_compile(json_string_value(pathv), json_string_length(pathv), &steps, &ns) !=
        PT_OK)
        return NULL;
    v = route__path_get(root, steps, ns);
    route__path_free(steps, ns);
    *found = v != NULL;
    return v;
}

static json_t *build_params(interp_t *in)
{
    json_t *p = json_object();
    json_t *q = json_object();
    json_t *h = json_object();
    route_kvl_t l = {0};
    size_t *idx, *starts, ng;

    route__connect_headers(in->ctx, &l);
    route__kvl_group(&l, true, &idx, &starts, &ng);
    for (size_t g = 0; g < ng; g++)
        json_object_set_new_nocheck(h, l.v[idx[starts[g]]].key,
                                    json_string_nocheck(l.v[idx[starts[g + 1] - 1]].val));
    free(idx);
    free(starts);
    route__kvl_free(&l);
    if (in->ctx->kind == ROUTE_EV_CONNECT)
        route__query_parse(in->ctx->query, in->ctx->query_len, &l);
    for (size_t i = 0; i < l.n; i++) /* the last value wins */
        json_object_set_new_nocheck(q, l.v[i].key, json_string_nocheck(l.v[i].val));
    route__kvl_free(&l);
    json_object_set_new(p, "path", json_object());
    json_object_set_new(p, "querystring", q);
    json_object_set_new(p, "header", h);
    return p;
}

static val_t input_call(interp_t *in, const seg_t *sg, val_t *args)
{
    bool found;
    if (sg->kind == S_PROP && strcmp(sg->name, "body") == 0) {
        if (!in->input_len)
            return mk_str(in, "{}", 2); /* as AWS does for an empty body */
        return mk_str(in, in->input, in->input_len);
    }
    if (sg->kind != S_CALL)
        return VNULL;
    if (strcmp(sg->name, "json") == 0) {
        const json_t *v = input_at(in, sg->nargs ? args[0].j : NULL, &found);
        if (!found)
            return mk_str(in, "\"\"", 2);
        buf_t b = BUF_INIT;
        route__json_write(&b, v);
        return mk_buf(in, &b);
    }
    if (strcmp(sg->name, "path") == 0) {
        const json_t *v = input_at(in, sg->nargs ? args[0].j : NULL, &found);
        if (found)
            return val_ref(v, 0);
        /* A body that is not JSON is itself the root: $input.path('$').split('&'). */
        if (!input_json(in) && in->input_len && sg->nargs && json_is_string(args[0].j) &&
            strcmp(json_string_value(args[0].j), "$") == 0)
            return mk_str(in, in->input, in->input_len);
        return VNULL;
    }
    if (strcmp(sg->name, "params") == 0) {
        if (!in->params)
            in->params = build_params(in);
        if (sg->nargs == 0)
            return val_ref(in->params, 0);
        buf_t name = BUF_INIT;
        text_of(in, args[0].j, &name);
        const char *nm = name.p ? name.p : "";
        const json_t *q = json_object_get(in->params, "querystring");
        const json_t *h = json_object_get(in->params, "header");
        const json_t *v = json_object_get(q, nm);
        if (!v) {
            const char *k;
            json_t *x;
            json_object_foreach((json_t *)h, k, x)
            {
                if (strcasecmp(k, nm) == 0)
                    v = x;
            }
        }
        buf_free(&name);
        return v ? val_ref(v, 0) : mk_str(in, "", 0);
    }
    return VNULL;
}

/* ---- $util -------------------------------------------------------------------------------- */

/* org.apache.commons.lang.StringEscapeUtils.escapeJavaScript, which API Gateway documents:
 * single quotes become \' (the reason for the well-known .replaceAll("\\'", "'")). */
static void escape_js(const char *s, size_t n, buf_t *out)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_t clean = BUF_INIT;
    route__utf8_sanitize(&clean, s, n);
    const unsigned char *p = (const unsigned char *)(clean.p ? clean.p : "");
    size_t len = clean.len;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        unsigned char c = p[i];
        if (c < 0x80) {
            cp = c;
            i++;
        } else if (c < 0xe0) {
            cp = (uint32_t)(c & 0x1f) << 6 | (p[i + 1] & 0x3f);
            i += 2;
        } else if (c < 0xf0) {
            cp = (uint32_t)(c & 0x0f) << 12 | (uint32_t)(p[i + 1] & 0x3f) << 6 | (p[i + 2] & 0x3f);
            i += 3;
        } else {
            cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3f) << 12 |
                 (uint32_t)(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3f);
            i += 4;
        }
        if (cp > 0xffff) { /* Java escapes UTF-16 code units: a surrogate pair */
            uint32_t v = cp - 0x10000;
            uint32_t u[2] = {0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff)};
            for (int k = 0; k < 2; k++) {
                char e[6] = {'\\',
                             'u',
                             hex[(u[k] >> 12) & 15],
                             hex[(u[k] >> 8) & 15],
                             hex[(u[k] >> 4) & 15],
                             hex[u[k] & 15]};
                buf_append(out, e, 6);
            }
        } else if (cp > 0x7f || (cp < 0x20 && cp != '\b' && cp != '\n' && cp != '\t' &&
                                 cp != '\f' && cp != '\r')) {
            char e[6] = {
                '\\',        'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                hex[cp & 15]};
            buf_append(out, e, 6);
        } else {
            switch (cp) {
            case '\b':
                buf_puts(out, "\\b");
                break;
            case '\n':
                buf_puts(out, "\\n");
                break;
            case '\t':
                buf_puts(out, "\\t");
                break;
            case '\f':
                buf_puts(out, "\\f");
                break;
            case '\r':
                buf_puts(out, "\\r");
                break;
            case '\'':
                buf_puts(out, "\\'");
                break;
            case '"':
                buf_puts(out, "\\\"");
                break;
            case '\\':
                buf_puts(out, "\\\\");
                break;
            case '/':
                buf_puts(out, "\\/");
                break;
            default:
                buf_putc(out, (char)cp);
            }
        }
    }
    buf_free(&clean);
}

static val_t util_call(interp_t *in, const seg_t *sg, val_t *args)
{
    if (sg->kind != S_CALL || sg->nargs < 1)
        return VNULL;
    const char *f = sg->name;
    const json_t *a = args[0].j;
    buf_t s = BUF_INIT, o = BUF_INIT;
    val_t r = VNULL;

    if (!a)
        return VNULL;
    text_of(in, a, &s);
    const char *p = s.p ? s.p : "";
    size_t n = s.len;
    if (in->err)
        goto out;
    if (strcmp(f, "escapeJavaScript") == 0) {
        escape_js(p, n, &o);
        r = mk_buf(in, &o);
    } else if (strcmp(f, "parseJson") == 0) {
        json_t *j = json_loadb(p, n, JSON_DECODE_ANY, NULL);
        r = val_of(j, 0);
    } else if (strcmp(f, "urlEncode") == 0) {
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-' || c == '*' || c == '_') {
                buf_putc(&o, (char)c);
            } else if (c == ' ') {
                buf_putc(&o, '+');
            } else {
                char e[3] = {'%', hex[c >> 4], hex[c & 15]};
                buf_append(&o, e, 3);
            }
        }
        r = mk_buf(in, &o);
    } else if (strcmp(f, "urlDecode") == 0) {
        char *d = pt_xmalloc(n + 1);
        long dn = http_pct_decode(p, n, d, true);
        if (dn >= 0)
            r = mk_str(in, d, (size_t)dn);
        free(d);
    } else if (strcmp(f, "base64Encode") == 0) {
        char *e = pt_xmalloc(B64_ENC_LEN(n) + 1);
        size_t en = b64_encode((const uint8_t *)p, n, e, false);
        r = mk_str(in, e, en);
        free(e);
    } else if (strcmp(f, "base64Decode") == 0) {
        uint8_t *d = pt_xmalloc(n / 4 * 3 + 4);
        long dn = b64_decode(p, n, d);
        if (dn >= 0)
            r = mk_str(in, (const char *)d, (size_t)dn);
        free(d);
    }
out:
    buf_free(&s);
    buf_free(&o);
    return r;
}

/* ---- $context ----------------------------------------------------------------------------- */

static val_t context_value(interp_t *in, const char *path, size_t n)
{
    const route_ctx_t *ctx = in->ctx;
    buf_t b = BUF_INIT;
    if (route_ctx_var(ctx, path, n, &b))
        return mk_buf(in, &b);
    buf_free(&b);
    if (n == 10 && memcmp(path, "authorizer", 10) == 0 && ctx->authorizer &&
        json_is_object(ctx->authorizer)) {
        /* As a map, values stringified like $context.authorizer.<key>. */
        json_t *m = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)ctx->authorizer, k, v)
        {
            buf_t t = BUF_INIT;
            route__json_text(v, &t);
            json_object_set_new_nocheck(m, k, json_stringn_nocheck(t.p ? t.p : "", t.len));
            buf_free(&t);
        }
        return val_of(m, 0);
    }
    if (n == 8 && memcmp(path, "identity", 8) == 0) {
        json_t *m = json_object();
        if (ctx->source_ip)
            json_object_set_new(m, "sourceIp", json_string_nocheck(ctx->source_ip));
        if (ctx->user_agent)
            json_object_set_new(m, "userAgent", json_string_nocheck(ctx->user_agent));
        if (ctx->api_key)
            json_object_set_new(m, "apiKey", json_string_nocheck(ctx->api_key));
        return val_of(m, 0);
    }
    return VNULL;
}

/* ---- methods on values -------------------------------------------------------------------- */

static bool arg_int(const val_t *args, size_t nargs, size_t k, json_int_t *out)
{
    if (k >= nargs || !json_is_integer(args[k].j))
        return false;
    *out = json_integer_value(args[k].j);
    return true;
}

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn, bool last)
{
    if (nn > hn)
        return NULL;
    if (nn == 0)
        return last ? h + hn : h;
    const char *found = NULL;
    for (const char *p = h; p + nn <= h + hn; p++) {
        p = memchr(p, nd[0], (size_t)(h + hn - p));
        if (!p || p + nn > h + hn)
            break;
        if (memcmp(p, nd, nn) == 0) {
            found = p;
            if (!last)
                break;
        }
    }
    return found;
}

/* Java's Matcher.appendReplacement: $n inserts group n, \x inserts x. */
static void append_replacement(buf_t *out, const char *subj, const regmatch_t *m, const char *r,
                               size_t rn)
{
    for (size_t i = 0; i < rn; i++) {
        if (r[i] == '\\' && i + 1 < rn) {
            buf_putc(out, r[++i]);
        } else if (r[i] == '$' && i + 1 < rn && r[i + 1] >= '0' && r[i + 1] <= '9') {
            int g = r[++i] - '0';
            if (m[g].rm_so >= 0)
                buf_append(out, subj + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
        } else {
            buf_putc(out, r[i]);
        }
    }
}

/* replaceAll / replaceFirst / split / matches: the regex methods of java.lang.String. */
static val_t regex_method(interp_t *in, const char *name, const char *s, size_t n,
                          const val_t *args, size_t nargs)
{
    regex_t re;
    regmatch_t m[10];
    buf_t pat = BUF_INIT, rep = BUF_INIT, o = BUF_INIT;
    val_t r = VNULL;
    bool all = strcmp(name, "replaceAll") == 0;
    bool split = strcmp(name, "split") == 0;
    bool matches = strcmp(name, "matches") == 0;

    if (nargs < (split || matches ? 1u : 2u) || memchr(s, '\0', n))
        return VNULL;
    text_of(in, args[0].j, &pat);
    if (nargs > 1)
        text_of(in, args[1].j, &rep);
    /* Short patterns only: they come from templates, and matching cost grows with them. */
    if (in->err || pat.len > 256 ||
        route__regex_compile(&re, pat.p ? pat.p : "", pat.len, matches) != PT_OK)
        goto out;
    /* regexec wants a C string: s has no NUL inside (checked above) and jansson strings are
     * NUL-terminated. */
    in->steps += n / 16;
    if (matches) {
        r = mk_bool(regexec(&re, s, 0, NULL, 0) == 0);
        regfree(&re);
        goto out;
    }
    json_t *parts = split ? json_array() : NULL;
    size_t pos = 0, piece = 0;
    while (pos <= n && step(in)) {
        /* Matching is charged by length, so no input loops for long. */
        in->steps += (n - pos) / 16;
        if (regexec(&re, s + pos, PT_ARRAY_LEN(m), m, pos > 0 ? REG_NOTBOL : 0) != 0)
            break;
        for (size_t g = 0; g < PT_ARRAY_LEN(m); g++)
            if (m[g].rm_so >= 0) {
                m[g].rm_so += (regoff_t)pos;
                m[g].rm_eo += (regoff_t)pos;
            }
        size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;
        if (split) {
            /* Java: a zero-width match splits between characters but never yields an empty
             * piece; a real match always ends a piece ("", "a" for ",a".split(",")). */
            if (eo > so || so > piece) {
                if (eo == so && so >= n)
                    break;
                json_array_append_new(parts, json_stringn_nocheck(s + piece, so - piece));
                piece = eo;
            }
        } else {
            buf_append(&o, s + piece, so - piece);
            append_replacement(&o, s, m, rep.p ? rep.p : "", rep.len);
            piece = eo;
        }
        if (eo == so) {
            if (so >= n)
                break;
            if (!split) { /* "abc".replaceAll("", "-") is "-a-b-c-" */
                buf_putc(&o, s[so]);
                piece = so + 1;
            }
            pos = so + 1;
        } else {
            pos = eo;
        }
        if (!split && !all)
            break;
        if (o.len > MAX_OUT) {
            in->err = PT_ETOOBIG;
            break;
        }
    }
    regfree(&re);
    if (split) {
        if (piece < n || json_array_size(parts) == 0)
            json_array_append_new(parts, json_stringn_nocheck(s + piece, n - piece));
        /* Java drops trailing empty strings. */
        size_t k = json_array_size(parts);
        while (k > 1 && json_string_length(json_array_get(parts, k - 1)) == 0)
            json_array_remove(parts, --k);
        r = val_of(parts, 0);
    } else {
        buf_append(&o, s + piece, n - piece);
        r = mk_buf(in, &o);
    }
out:
    buf_free(&pat);
    buf_free(&rep);
    buf_free(&o);
    return r;
}

static val_t string_method(interp_t *in, const json_t *v, const char *name, const val_t *args,
                           size_t nargs)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    buf_t a = BUF_INIT;
    val_t r = VNULL;
    json_int_t i0, i1;

#define IS(lit) (strcmp(name, lit) == 0)
    if (nargs >= 1)
        text_of(in, args[0].j, &a);
    const char *ap = a.p ? a.p : "";
    if (IS("length") && nargs == 0) {
        r = mk_int((json_int_t)n);
    } else if (IS("isEmpty") && nargs == 0) {
        r = mk_bool(n == 0);
    } else if (IS("toString") && nargs == 0) {
        r = val_ref(v, 0);
    } else if (IS("trim") && nargs == 0) {
        size_t b = 0, e = n;
        while (b < e && (unsigned char)s[b] <= ' ')
            b++;
        while (e > b && (unsigned char)s[e - 1] <= ' ')
            e--;
        r = mk_str(in, s + b, e - b);
    } else if ((IS("toLowerCase") || IS("toUpperCase")) && nargs == 0) {
        char *c = pt_xmemdup(s, n + 1);
        for (size_t i = 0; i < n; i++) {
            if (IS("toLowerCase") && c[i] >= 'A' && c[i] <= 'Z')
                c[i] = (char)(c[i] + 32);
            else if (IS("toUpperCase") && c[i] >= 'a' && c[i] <= 'z')
                c[i] = (char)(c[i] - 32);
        }
        r = mk_str(in, c, n);
        free(c);
    } else if (IS("contains") && nargs == 1) {
        r = mk_bool(find_bytes(s, n, ap, a.len, false) != NULL);
    } else if (IS("startsWith") && nargs == 1) {
        r = mk_bool(a.len <= n && memcmp(s, ap, a.len) == 0);
    } else if (IS("endsWith") && nargs == 1) {
        r = mk_bool(a.len <= n && memcmp(s + n - a.len, ap, a.len) == 0);
    } else if (IS("equals") && nargs == 1) {
        r = mk_bool(json_is_string(args[0].j) && a.len == n && memcmp(s, ap, n) == 0);
    } else if (IS("equalsIgnoreCase") && nargs == 1) {
        r = mk_bool(a.len == n && strncasecmp(s, ap, n) == 0);
    } else if ((IS("indexOf") || IS("lastIndexOf")) && nargs == 1) {
        const char *f = find_bytes(s, n, ap, a.len, IS("lastIndexOf"));
        r = mk_int(f ? (json_int_t)(f - s) : -1);
    } else if (IS("substring") && (nargs == 1 || nargs == 2) && arg_int(args, nargs, 0, &i0)) {
        if (nargs == 1)
            i1 = (json_int_t)n;
        else if (!arg_int(args, nargs, 1, &i1))
            i1 = -1;
        if (i0 >= 0 && i1 >= i0 && (size_t)i1 <= n)
            r = mk_str(in, s + i0, (size_t)(i1 - i0));
    } else if (IS("replace") && nargs == 2) {
        buf_t b2 = BUF_INIT, o = BUF_INIT;
        text_of(in, args[1].j, &b2);
        size_t pos = 0;
        if (a.len) {
            const char *f;
            while ((f = find_bytes(s + pos, n - pos, ap, a.len, false)) != NULL && !in->err) {
                buf_append(&o, s + pos, (size_t)(f - (s + pos)));
                buf_append(&o, b2.p ? b2.p : "", b2.len);
                pos = (size_t)(f - s) + a.len;
                if (o.len > MAX_OUT)
                    in->err = PT_ETOOBIG;
            }
        }
        buf_append(&o, s + pos, n - pos);
        buf_free(&b2);
        r = mk_buf(in, &o);
    } else if (IS("replaceAll") || IS("replaceFirst") || IS("split") || IS("matches")) {
        r = regex_method(in, name, s, n, args, nargs);
    }
#undef IS
    buf_free(&a);
    return r;
}

static bool loose_equal(interp_t *in, const json_t *a, const json_t *b);

static val_t call_method(interp_t *in, val_t base, const char *name, const val_t *args,
                         size_t nargs)
{
    const json_t *v = base.j;
    val_t r = VNULL;
    json_int_t i;

#define IS(lit) (strcmp(name, lit) == 0)
    if (!v)
        return VNULL;
    if (json_is_string(v))
        return string_method(in, v, name, args, nargs);
    if (json_is_array(v)) {
        if ((IS("size") || IS("length")) && nargs == 0)
            r = mk_int((json_int_t)json_array_size(v));
        else if (IS("isEmpty") && nargs == 0)
            r = mk_bool(json_array_size(v) == 0);
        else if (IS("get") && arg_int(args, nargs, 0, &i) && i >= 0)
            r = val_ref(json_array_get(v, (size_t)i), base.d ? base.d - 1 : 0);
        else if (IS("contains") && nargs == 1) {
            bool f = false;
            for (size_t k = 0; k < json_array_size(v) && !f && step(in); k++)
                f = loose_equal(in, json_array_get(v, k), args[0].j);
            r = mk_bool(f);
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        if (IS("get") && nargs == 1) {
            buf_t key = BUF_INIT;
            text_of(in, args[0].j, &key);
            r = val_ref(json_object_getn(v, key.p ? key.p : "", key.len), base.d ? base.d - 1 : 0);
            buf_free(&key);
        } else if (IS("containsKey") && nargs == 1) {
            buf_t key = BUF_INIT;
            text_of(in, args[0].j, &key);
            r = mk_bool(json_object_getn(v, key.p ? key.p : "", key.len) != NULL);
            buf_free(&key);
        } else if ((IS("size") || IS("length")) && nargs == 0) {
            r = mk_int((json_int_t)json_object_size(v));
        } else if (IS("isEmpty") && nargs == 0) {
            r = mk_bool(json_object_size(v) == 0);
        } else if ((IS("keySet") || IS("values") || IS("entrySet")) && nargs == 0) {
            json_t *arr = json_array();
            size_t kl;
            json_object_keylen_foreach((json_t *)v, k, kl, x)
            {
                if (!step(in))
                    break;
                if (IS("keySet")) {
                    json_array_append_new(arr, json_stringn_nocheck(k, kl));
                } else if (IS("values")) {
                    json_array_append(arr, x);
                } else {
                    json_t *ent = json_object();
                    json_object_set_new(ent, "key", json_stringn_nocheck(k, kl));
                    json_object_set(ent, "value", x);
                    json_array_append_new(arr, ent);
                }
            }
            /* Built from an existing map: no deeper than it, plus the entry level. */
            r = val_of(arr, base.d + 1);
        }
    }
    if (!r.j && IS("toString") && nargs == 0) {
        buf_t b = BUF_INIT;
        text_of(in, v, &b);
        r = mk_buf(in, &b);
    }
    if (!r.j && IS("equals") && nargs == 1)
        r = mk_bool(loose_equal(in, v, args[0].j));
#undef IS
    return r;
}

/* Applies one .prop / .method() / [index] to base (consumed). */
static val_t apply_seg(interp_t *in, val_t base, const seg_t *sg)
{
    val_t r = VNULL;
    if (sg->kind == S_PROP) {
        if (json_is_object(base.j))
            r = val_ref(json_object_get(base.j, sg->name), base.d ? base.d - 1 : 0);
        else if (strcmp(sg->name, "empty") == 0) /* the bean property isEmpty() */
            r = call_method(in, base, "isEmpty", NULL, 0);
    } else if (sg->kind == S_INDEX) {
        val_t ix = eval(in, sg->index);
        if (json_is_array(base.j) && json_is_integer(ix.j) && json_integer_value(ix.j) >= 0) {
            r = val_ref(json_array_get(base.j, (size_t)json_integer_value(ix.j)),
                        base.d ? base.d - 1 : 0);
        } else if (json_is_object(base.j)) {
            buf_t key = BUF_INIT;
            text_of(in, ix.j, &key);
            r = val_ref(json_object_getn(base.j, key.p ? key.p : "", key.len),
                        base.d ? base.d - 1 : 0);
            buf_free(&key);
        }
        val_free(ix);
    } else {
        val_t args[8];
        size_t na = sg->nargs < PT_ARRAY_LEN(args) ? sg->nargs : PT_ARRAY_LEN(args);
        for (size_t k = 0; k < na; k++)
            args[k] = eval(in, sg->args[k]);
        if (!in->err)
            r = call_method(in, base, sg->name, args, na);
        for (size_t k = 0; k < na; k++)
            val_free(args[k]);
    }
    val_free(base);
    return r;
}

static val_t eval_ref(interp_t *in, const expr_t *e)
{
    const char *root = e->root;
    size_t k = 0;
    val_t v = VNULL;

    if (strcmp(root, "input") == 0) {
        if (e->nsegs == 0)
            return VNULL;
        const seg_t *sg = &e->segs[0];
        val_t args[2] = {VNULL, VNULL};
        size_t na = sg->kind == S_CALL ? (sg->nargs < 2 ? sg->nargs : 2) : 0;
        for (size_t a = 0; a < na; a++)
            args[a] = eval(in, sg->args[a]);
        if (!in->err)
            v = input_call(in, sg, args);
        for (size_t a = 0; a < na; a++)
            val_free(args[a]);
        k = 1;
    } else if (strcmp(root, "util") == 0) {
        if (e->nsegs == 0)
            return VNULL;
        const seg_t *sg = &e->segs[0];
        val_t args[2] = {VNULL, VNULL};
        size_t na = sg->kind == S_CALL ? (sg->nargs < 2 ? sg->nargs : 2) : 0;
        for (size_t a = 0; a < na; a++)
            args[a] = eval(in, sg->args[a]);
        if (!in->err)
            v = util_call(in, sg, args);
        for (size_t a = 0; a < na; a++)
            val_free(args[a]);
        k = 1;
    } else if (strcmp(root, "context") == 0) {
        /* $context.a.b.c names one variable ("identity.sourceIp"); a method call or an index
         * applies to the variable named by the properties before it. */
        buf_t path = BUF_INIT;
        while (k < e->nsegs && e->segs[k].kind == S_PROP) {
            if (path.len)
                buf_putc(&path, '.');
            buf_puts(&path, e->segs[k].name);
            k++;
        }
        /* A trailing call on a dotted name may be a map method ($context.authorizer.keySet()). */
        v = path.len ? context_value(in, path.p, path.len) : VNULL;
        buf_free(&path);
    } else if (strcmp(root, "stageVariables") == 0) {
        if (!in->stagevars) {
            in->stagevars = json_object();
            const route_stage_t *st = in->ctx->stage;
            for (size_t i = 0; st && i < st->variables.n; i++)
                json_object_set_new_nocheck(in->stagevars, st->variables.items[i].key,
                                            json_string_nocheck(st->variables.items[i].val));
        }
        v = val_ref(in->stagevars, 0);
    } else if (strcmp(root, "foreach") == 0 || strcmp(root, "velocityCount") == 0) {
        if (!in->nfe)
            return VNULL;
        const fe_t *f = &in->fe[in->nfe - 1];
        if (root[0] == 'v')
            return mk_int((json_int_t)f->index + 1);
        if (e->nsegs == 0 || e->segs[0].kind != S_PROP)
            return VNULL;
        const char *p = e->segs[0].name;
        if (strcmp(p, "hasNext") == 0)
            v = mk_bool(f->index + 1 < f->n);
        else if (strcmp(p, "index") == 0)
            v = mk_int((json_int_t)f->index);
        else if (strcmp(p, "count") == 0)
            v = mk_int((json_int_t)f->index + 1);
        else if (strcmp(p, "first") == 0)
            v = mk_bool(f->index == 0);
        else if (strcmp(p, "last") == 0)
            v = mk_bool(f->index + 1 >= f->n);
        k = 1;
    } else {
        var_t *slot = var_slot(in, root, false);
        if (slot)
            v = val_ref(slot->v.j, slot->v.d);
    }
    for (; k < e->nsegs && v.j && !in->err; k++) {
        if (!step(in))
            break;
        v = apply_seg(in, v, &e->segs[k]);
    }
    if (in->err) {
        val_free(v);
        return VNULL;
    }
    return v;
}

static bool loose_equal(interp_t *in, const json_t *a, const json_t *b)
{
    double da, db;
    json_int_t ia, ib;
    bool inta, intb;
    if (!a || json_is_null(a) || !b || json_is_null(b))
        return (!a || json_is_null(a)) && (!b || json_is_null(b));
    if (as_number(a, &da, &ia, &inta) && as_number(b, &db, &ib, &intb))
        return inta && intb ? ia == ib : da == db;
    if (json_is_boolean(a) && json_is_boolean(b))
        return json_is_true(a) == json_is_true(b);
    /* Velocity compares anything else by its toString(). */
    buf_t ta = BUF_INIT, tb = BUF_INIT;
    text_of(in, a, &ta);
    text_of(in, b, &tb);
    bool eq = ta.len == tb.len && (ta.len == 0 || memcmp(ta.p, tb.p, ta.len) == 0);
    buf_free(&ta);
    buf_free(&tb);
    return eq;
}

/* A number from a number, or from a string that is entirely one (lenient: $context values
 * such as requestTimeEpoch are strings here but numbers in AWS). */
static bool num_operand(const json_t *v, double *d, json_int_t *i, bool *is_int)
{
    if (as_number(v, d, i, is_int))
        return true;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 30)
        return false;
    const char *s = json_string_value(v);
    char *end;
    long long ll = strtoll(s, &end, 10);
    if (*end == '\0') {
        *i = ll;
        *d = (double)ll;
        *is_int = true;
        return true;
    }
    *d = strtod(s, &end);
    *is_int = false;
    return *end == '\0' && isfinite(*d);
}

static val_t eval_bin(interp_t *in, const expr_t *e)
{
    if (e->op == OP_OR || e->op == OP_AND) {
        val_t a = eval(in, e->a);
        bool ta = truthy(a.j);
        val_free(a);
        if (e->op == OP_OR ? ta : !ta)
            return mk_bool(ta);
        val_t b = eval(in, e->b);
        bool tb = truthy(b.j);
        val_free(b);
        return mk_bool(tb);
    }
    val_t a = eval(in, e->a);
    val_t b = eval(in, e->b);
    val_t r = VNULL;
    double da, db;
    json_int_t ia, ib;
    bool inta, intb;
    if (in->err)
        goto out;
    switch (e->op) {
    case OP_EQ:
        r = mk_bool(loose_equal(in, a.j, b.j));
        break;
    case OP_NE:
        r = mk_bool(!loose_equal(in, a.j, b.j));
        break;
    case OP_LT:
    case OP_GT:
    case OP_LE:
    case OP_GE:
        if (num_operand(a.j, &da, &ia, &inta) && num_operand(b.j, &db, &ib, &intb)) {
            int c = (inta && intb) ? (ia > ib) - (ia < ib) : (da > db) - (da < db);
            r = mk_bool(e->op == OP_LT   ? c < 0
                        : e->op == OP_GT ? c > 0
                        : e->op == OP_LE ? c <= 0
                                         : c >= 0);
        } else {
            r = mk_bool(false);
        }
        break;
    case OP_ADD:
        if (json_is_string(a.j) || json_is_string(b.j)) {
            buf_t t = BUF_INIT;
            text_of(in, a.j, &t);
            text_of(in, b.j, &t);
            r = mk_buf(in, &t);
            break;
        }
        /* fall through */
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD:
        if (!as_number(a.j, &da, &ia, &inta) || !as_number(b.j, &db, &ib, &intb))
            break;
        if (inta && intb) {
            long long res;
            bool ovf = false;
            switch (e->op) {
            case OP_ADD:
                ovf = __builtin_add_overflow(ia, ib, &res);
                break;
            case OP_SUB:
                ovf = __builtin_sub_overflow(ia, ib, &res);
                break;
            case OP_MUL:
                ovf = __builtin_mul_overflow(ia, ib, &res);
                break;
            case OP_DIV:
            case OP_MOD:
                if (ib == 0 || (ia == INT64_MIN && ib == -1))
                    goto out; /* null, as Velocity gives for x/0 */
                res = e->op == OP_DIV ? ia / ib : ia % ib;
                break;
            default:
                goto out;
            }
            if (!ovf) {
                r = mk_int((json_int_t)res);
                break;
            }
        }
        {
            double res;
            switch (e->op) {
            case OP_ADD:
                res = da + db;
                break;
            case OP_SUB:
                res = da - db;
                break;
            case OP_MUL:
                res = da * db;
                break;
            case OP_DIV:
                if (db == 0)
                    goto out;
                res = da / db;
                break;
            default: {
                /* fmod without libm (routes/ links no libm): truncate the quotient. */
                double q = db != 0 ? da / db : 0;
                if (db == 0 || !(q > -9e18 && q < 9e18))
                    goto out;
                res = da - db * (double)(long long)q;
                break;
            }
            }
            if (isfinite(res))
                r = val_of(json_real(res), 0);
        }
        break;
    default:
        break;
    }
out:
    val_free(a);
    val_free(b);
    return r;
}

static val_t eval(interp_t *in, const expr_t *e)
{
    if (!step(in))
        return VNULL;
    switch (e->kind) {
    case E_LIT:
        return val_ref(e->lit, 0);
    case E_STR: {
        buf_t b = BUF_INIT;
        exec(in, &e->parts, &b);
        return mk_buf(in, &b);
    }
    case E_REF:
        return eval_ref(in, e);
    case E_LIST:
    case E_MAP: {
        json_t *c = e->kind == E_LIST ? json_array() : json_object();
        int d = 0;
        size_t stride = e->kind == E_LIST ? 1 : 2;
        for (size_t k = 0; k + stride <= e->nitems && !in->err; k += stride) {
            val_t v = eval(in, e->items[k + stride - 1]);
            if (v.d > d)
                d = v.d;
            if (e->kind == E_LIST) {
                json_array_append(c, v.j ? v.j : json_null());
            } else {
                val_t key = eval(in, e->items[k]);
                buf_t kt = BUF_INIT;
                text_of(in, key.j, &kt);
                json_object_setn_nocheck(c, kt.p ? kt.p : "", kt.len, v.j ? v.j : json_null());
                buf_free(&kt);
                val_free(key);
            }
            val_free(v);
        }
        /* Bound how deeply a template can nest containers it builds itself. */
        if (d + 1 > MAX_DEPTH && !in->err)
            in->err = PT_ETOOBIG;
        if (in->err) {
            json_decref(c);
            return VNULL;
        }
        return val_of(c, d + 1);
    }
    case E_RANGE: {
        val_t lo = eval(in, e->items[0]);
        val_t hi = eval(in, e->items[1]);
        val_t r = VNULL;
        if (json_is_integer(lo.j) && json_is_integer(hi.j)) {
            json_int_t a = json_integer_value(lo.j), b = json_integer_value(hi.j);
            json_t *arr = json_array();
            json_int_t dir = a <= b ? 1 : -1;
            for (json_int_t x = a; json_array_size(arr) < MAX_ITER && step(in); x += dir) {
                json_array_append_new(arr, json_integer(x));
                if (x == b)
                    break;
            }
            r = val_of(arr, 1);
        }
        val_free(lo);
        val_free(hi);
        return r;
    }
    case E_NOT: {
        val_t a = eval(in, e->a);
        bool t = truthy(a.j);
        val_free(a);
        return mk_bool(!t);
    }
    case E_NEG: {
        val_t a = eval(in, e->a);
        val_t r = VNULL;
        if (json_is_integer(a.j) && json_integer_value(a.j) != INT64_MIN)
            r = mk_int(-json_integer_value(a.j));
        else if (json_is_real(a.j))
            r = val_of(json_real(-json_real_value(a.j)), 0);
        val_free(a);
        return r;
    }
    case E_BIN:
        return eval_bin(in, e);
    }
    return VNULL;
}

/* ============================================================================================
 * Execution
 * ========================================================================================== */

static void exec_foreach(interp_t *in, const node_t *nd, buf_t *out)
{
    val_t list = eval(in, nd->value);
    json_t *items = NULL; /* owned */
    if (json_is_array(list.j)) {
        items = json_incref(list.j);
    } else if (json_is_object(list.j)) {
        /* A map iterates its values. */
        const char *k;
        json_t *x;
        items = json_array();
        json_object_foreach(list.j, k, x)
        {
            json_array_append(items, x);
        }
    }
    if (!items || in->nfe >= MAX_DEPTH) {
        val_free(list);
        if (items)
            json_decref(items);
        return;
    }
    var_t *slot = var_slot(in, nd->var, true);
    val_t saved = slot->v;
    slot->v = VNULL;
    size_t n = json_array_size(items);
    fe_t *f = &in->fe[in->nfe++];
    f->n = n;
    for (size_t i = 0; i < n && i < MAX_ITER && !in->err && !in->stop; i++) {
        if (!step(in))
            break;
        f->index = i;
        /* The table may have grown during the body: look the slot up again. */
        var_set(in, nd->var, val_ref(json_array_get(items, i), list.d ? list.d - 1 : 0));
        exec(in, &nd->body, out);
        if (in->brk) {
            in->brk = false;
            break;
        }
    }
    in->nfe--;
    var_set(in, nd->var, saved);
    json_decref(items);
    val_free(list);
}

static void exec(interp_t *in, const nodes_t *ns, buf_t *out)
{
    for (size_t i = 0; i < ns->n && !in->err && !in->brk && !in->stop; i++) {
        const node_t *nd = ns->v[i];
        if (!step(in))
            return;
        switch (nd->kind) {
        case N_TEXT:
            put(in, out, nd->text, nd->len);
            break;
        case N_REF: {
            val_t v = eval(in, nd->ref);
            val_text(in, v.j, out, 0, true);
            val_free(v);
            break;
        }
        case N_IF: {
            size_t b;
            for (b = 0; b < nd->nbranch && !in->err; b++) {
                val_t c = eval(in, nd->conds[b]);
                bool t = truthy(c.j);
                val_free(c);
                if (t)
                    break;
            }
            if (in->err)
                return;
            exec(in, b < nd->nbranch ? &nd->bodies[b] : &nd->else_body, out);
            break;
        }
        case N_FOREACH:
            exec_foreach(in, nd, out);
            break;
        case N_SET: {
            val_t v = eval(in, nd->value);
            const expr_t *t = nd->ref;
            static const char *const builtin[] = {"input", "context", "util", "stageVariables",
                                                  "foreach"};
            bool settable = t->nsegs == 0;
            for (size_t k = 0; k < PT_ARRAY_LEN(builtin); k++)
                if (strcmp(t->root, builtin[k]) == 0)
                    settable = false;
            if (settable && !in->err)
                var_set(in, t->root, v);
            else
                val_free(v);
            break;
        }
        case N_BREAK:
            if (in->nfe)
                in->brk = true;
            else
                in->stop = true;
            break;
        }
    }
}

/* ============================================================================================
 * Public entry points
 * ========================================================================================== */

int route_template_render(const char *tmpl, const route_ctx_t *ctx, const char *input,
                          size_t input_len, const json_t *input_json, buf_t *out, buf_t *err)
{
    arena_t ar = {NULL};
    parser_t p;
    nodes_t root = {0};
    term_t term;
    interp_t in;
    buf_t o = BUF_INIT; /* rendered here first, so a failure leaves out untouched */
    int rc;

    memset(&p, 0, sizeof p);
    p.s = tmpl;
    p.n = strlen(tmpl);
    p.ar = &ar;
    p.err = err;
    rc = parse_block(&p, &root, &term);
    if (rc == PT_OK && term != T_EOF) {
        perr(&p, "#%s without a matching #if or #foreach",
             term == T_END    ? "end"
             : term == T_ELSE ? "else"
                              : "elseif");
        rc = PT_EPARSE;
    }
    if (rc == PT_OK && p.failed)
        rc = PT_EPARSE;
    if (rc != PT_OK)
        goto out;

    memset(&in, 0, sizeof in);
    in.ctx = ctx;
    in.input = input ? input : "";
    in.input_len = input ? input_len : 0;
    in.input_json = input_json;
    exec(&in, &root, &o);
    rc = in.err;
    if (rc == PT_ETOOBIG && err && !err->len)
        buf_printf(err, "template exceeds a limit (1 MiB of output, %d steps or nesting)",
                   MAX_STEPS);
    for (size_t i = 0; i < in.capvars; i++)
        if (in.vars[i].name)
            val_free(in.vars[i].v);
    free(in.vars);
    if (in.input_tmp)
        json_decref(in.input_tmp);
    if (in.params)
        json_decref(in.params);
    if (in.stagevars)
        json_decref(in.stagevars);
    if (rc == PT_OK)
        buf_append(out, o.p ? o.p : "", o.len);
out:
    buf_free(&o);
    for (size_t i = 0; i < p.nlits; i++)
        if (p.lits[i])
            json_decref(p.lits[i]);
    free(p.lits);
    ar_free(&ar);
    return rc;
}

const char *route_request_template(const route_integration_t *integ, const route_ctx_t *ctx)
{
    const char *t = NULL;
    json_t *tmp = NULL;
    route_expr_t *own = NULL;
    const route_expr_t *tse = integ->tse;

    if (!integ->request_templates.n)
        return NULL;
    if (!tse && integ->template_selection_expression &&
        route_expr_compile(integ->template_selection_expression, &own, NULL) == PT_OK)
        tse = own;
    if (tse) {
        route_expr_env_t env = {0};
        buf_t key = BUF_INIT;
        env.ctx = ctx;
        env.body = route_expr_needs_body(tse) ? route__ctx_body_json(ctx, &tmp) : NULL;
        route__expr_eval_env(tse, &env, &key);
        if (key.len)
            t = route_map_get(&integ->request_templates, key.p);
        buf_free(&key);
    }
    if (!t)
        t = route_map_get(&integ->request_templates, "$default");
    if (!t)
        t = route_map_get(&integ->request_templates, "application/json");
    if (tmp)
        json_decref(tmp);
    route_expr_free(own);
    return t;
}

void route_subst_stage_vars(const char *text, const route_stage_t *stage, buf_t *out)
{
    static const char pre[] = "${stageVariables.";
    const char *p = text;
    for (;;) {
        const char *s = strstr(p, pre);
        const char *e = s ? strchr(s + sizeof pre - 1, '}') : NULL;
        if (!e) {
            buf_puts(out, p);
            break;
        }
        buf_append(out, p, (size_t)(s - p));
        const char *name = s + sizeof pre - 1;
        for (size_t i = 0; stage && i < stage->variables.n; i++) {
            const route_kv_t *kv = &stage->variables.items[i];
            if (strlen(kv->key) == (size_t)(e - name) && memcmp(kv->key, name, e - name) == 0) {
                buf_puts(out, kv->val);
                break;
            }
        }
        p = e + 1;
    }
    if (!out->p)
        buf_reserve(out, 0);
}
