/* policy.c: IAM policy documents (resource policies, authorizer outputs), wildcards, CIDRs. */
#include "routes/security.h"
#include "common/err.h"
#include "common/mem.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The subset of IAM's policy language API Gateway's policies use ("IAM JSON policy elements"
 * reference; "API Gateway resource policy examples"): Effect Allow|Deny; Action / NotAction
 * and Resource / NotResource, each a string or a list; Principal (accepted, not evaluated:
 * Portico has no IAM principals but the anonymous caller and SigV4 keys, which are checked
 * elsewhere); Condition with IpAddress / NotIpAddress on aws:SourceIp. Evaluation follows
 * IAM: an explicit Deny wins, else an Allow, else the implicit deny.
 */

/* ---- CIDR ---------------------------------------------------------------------------------- */

static int parse_ip(const char *s, uint8_t *family, uint8_t addr[16])
{
    struct in_addr a4;
    struct in6_addr a6;
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, &a4) == 1) {
        *family = 4;
        memcpy(addr, &a4, 4);
        return PT_OK;
    }
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) { /* ::ffff:a.b.c.d is an IPv4 client */
            *family = 4;
            memcpy(addr, &a6.s6_addr[12], 4);
            return PT_OK;
        }
        *family = 6;
        memcpy(addr, &a6, 16);
        return PT_OK;
    }
    return PT_EINVAL;
}

int route_cidr_parse(const char *s, size_t n, route_cidr_t *out)
{
    char text[64];
    memset(out, 0, sizeof *out);
    if (n == 0 || n >= sizeof text || memchr(s, '\0', n))
        return PT_EINVAL;
    memcpy(text, s, n);
    text[n] = '\0';
    char *slash = strchr(text, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        const char *b = slash + 1;
        size_t bl = strlen(b);
        if (bl == 0 || bl > 3 || strspn(b, "0123456789") != bl)
            return PT_EINVAL;
        bits = strtol(b, NULL, 10);
    }
    if (parse_ip(text, &out->family, out->addr) != PT_OK)
        return PT_EINVAL;
    /* An IPv6 text that is a mapped IPv4 address counts as IPv4; its prefix shrinks by 96. */
    bool mapped = out->family == 4 && strchr(text, ':');
    int max = out->family == 4 ? 32 : 128;
    if (bits < 0)
        bits = max;
    else if (mapped)
        bits = bits >= 96 ? bits - 96 : -1;
    if (bits < 0 || bits > max)
        return PT_EINVAL;
    out->bits = (uint8_t)bits;
    return PT_OK;
}

bool route_cidr_match(const route_cidr_t *c, const char *ip)
{
    uint8_t fam, addr[16];
    if (!ip || parse_ip(ip, &fam, addr) != PT_OK || fam != c->family)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(addr, c->addr, full) != 0)
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((addr[full] & mask) != (c->addr[full] & mask))
            return false;
    }
    return true;
}

/* ---- wildcards ------------------------------------------------------------------------------ */

/* Iterative glob with single backtracking point: linear in practice, never exponential. */
static bool wild(const char *p, const char *pe, const char *s, const char *se)
{
    const char *star = NULL, *mark = NULL;
    while (s < se) {
        if (p < pe && (*p == '?' || *p == *s)) {
            p++;
            s++;
        } else if (p < pe && *p == '*') {
            star = p++;
            mark = s;
        } else if (star) {
            p = star + 1;
            s = ++mark;
        } else {
            return false;
        }
    }
    while (p < pe && *p == '*')
        p++;
    return p == pe;
}

bool route_wildcard_match(const char *pat, const char *s)
{
    return wild(pat, pat + strlen(pat), s, s + strlen(s));
}

/* ---- documents ------------------------------------------------------------------------------ */

typedef struct stmt {
    bool deny;
    bool not_action;
    char **actions;
    size_t nactions;
    bool not_resource;
    char **resources;
    size_t nresources;
    route_cidr_t *ip_in; /* IpAddress aws:SourceIp: any of them */
    size_t nip_in;
    bool has_ip_in;
    route_cidr_t *ip_out; /* NotIpAddress aws:SourceIp: none of them */
    size_t nip_out;
    bool has_ip_out;
} stmt_t;

struct route_policy {
    stmt_t *st;
    size_t n;
};

static void stmt_free(stmt_t *s)
{
    for (size_t i = 0; i < s->nactions; i++)
        free(s->actions[i]);
    for (size_t i = 0; i < s->nresources; i++)
        free(s->resources[i]);
    free(s->actions);
    free(s->resources);
    free(s->ip_in);
    free(s->ip_out);
}

void route_policy_free(route_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        stmt_free(&p->st[i]);
    free(p->st);
    free(p);
}

static void why(buf_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void why(buf_t *err, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    buf_vprintf(err, fmt, ap);
    va_end(ap);
}

/* A string or a non-empty list of strings (at most 256). */
static int strlist(const json_t *v, const char *name, char ***out, size_t *n, buf_t *err)
{
    size_t cnt = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (cnt == 0 || cnt > 256) {
        why(err, "%s must be a string or a non-empty list of strings", name);
        return PT_EINVAL;
    }
    char **l = pt_xcalloc(cnt, sizeof *l);
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 2048 ||
            memchr(json_string_value(e), '\0', json_string_length(e))) {
            for (size_t j = 0; j < i; j++)
                free(l[j]);
            free(l);
            why(err, "%s must hold non-empty strings", name);
            return PT_EINVAL;
        }
        l[i] = pt_xstrdup(json_string_value(e));
    }
    *out = l;
    *n = cnt;
    return PT_OK;
}

static int cidrs(const json_t *v, route_cidr_t **out, size_t *n, buf_t *err)
{
    size_t cnt = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (cnt == 0 || cnt > 1024) {
        why(err, "aws:SourceIp must be a CIDR block or a non-empty list of them");
        return PT_EINVAL;
    }
    route_cidr_t *l = pt_xcalloc(cnt, sizeof *l);
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(e) ||
            route_cidr_parse(json_string_value(e), json_string_length(e), &l[i]) != PT_OK) {
            free(l);
            why(err, "aws:SourceIp: %s is not an IP address or CIDR block",
                json_is_string(e) ? json_string_value(e) : "(not a string)");
            return PT_EINVAL;
        }
    }
    *out = l;
    *n = cnt;
    return PT_OK;
}

static int condition(const json_t *c, stmt_t *s, buf_t *err)
{
    const char *op;
    json_t *block;
    if (!json_is_object(c)) {
        why(err, "Condition must be an object");
        return PT_EINVAL;
    }
    json_object_foreach((json_t *)c, op, block)
    {
        bool in = strcmp(op, "IpAddress") == 0;
        if (!in && strcmp(op, "NotIpAddress") != 0) {
            why(err, "Condition operator %s is not supported (IpAddress and NotIpAddress are)", op);
            return PT_EINVAL;
        }
        const char *k;
        json_t *v;
        if (!json_is_object(block) || json_object_size(block) == 0) {
            why(err, "%s must be an object of condition keys", op);
            return PT_EINVAL;
        }
        json_object_foreach(block, k, v)
        {
            if (strcasecmp(k, "aws:SourceIp") != 0) {
                why(err, "condition key %s is not supported (aws:SourceIp is)", k);
                return PT_EINVAL;
            }
            if ((in && s->has_ip_in) || (!in && s->has_ip_out)) {
                why(err, "%s is given twice", op);
                return PT_EINVAL;
            }
            int rc =
                in ? cidrs(v, &s->ip_in, &s->nip_in, err) : cidrs(v, &s->ip_out, &s->nip_out, err);
            if (rc != PT_OK)
                return rc;
            if (in)
                s->has_ip_in = true;
            else
                s->has_ip_out = true;
        }
    }
    return PT_OK;
}

static int statement(const json_t *j, stmt_t *s, buf_t *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(j)) {
        why(err, "a Statement must be an object");
        return PT_EINVAL;
    }
    const json_t *eff = json_object_get(j, "Effect");
    if (!json_is_string(eff) || (strcmp(json_string_value(eff), "Allow") != 0 &&
                                 strcmp(json_string_value(eff), "Deny") != 0)) {
        why(err, "Effect must be \"Allow\" or \"Deny\"");
        return PT_EINVAL;
    }
    s->deny = strcmp(json_string_value(eff), "Deny") == 0;
    json_object_foreach((json_t *)j, k, v)
    {
        int rc = PT_OK;
        if (strcmp(k, "Effect") == 0 || strcmp(k, "Sid") == 0 || strcmp(k, "Principal") == 0 ||
            strcmp(k, "NotPrincipal") == 0)
            continue;
        if (strcmp(k, "Action") == 0 || strcmp(k, "NotAction") == 0) {
            if (s->actions) {
                why(err, "a statement has either Action or NotAction");
                return PT_EINVAL;
            }
            s->not_action = k[0] == 'N';
            rc = strlist(v, k, &s->actions, &s->nactions, err);
        } else if (strcmp(k, "Resource") == 0 || strcmp(k, "NotResource") == 0) {
            if (s->resources) {
                why(err, "a statement has either Resource or NotResource");
                return PT_EINVAL;
            }
            s->not_resource = k[0] == 'N';
            rc = strlist(v, k, &s->resources, &s->nresources, err);
        } else if (strcmp(k, "Condition") == 0) {
            rc = condition(v, s, err);
        } else {
            why(err, "unknown statement element %s", k);
            rc = PT_EINVAL;
        }
        if (rc != PT_OK)
            return rc;
    }
    if (!s->actions) {
        why(err, "a statement needs Action (or NotAction)");
        return PT_EINVAL;
    }
    if (!s->resources) {
        why(err, "a statement needs Resource (or NotResource)");
        return PT_EINVAL;
    }
    return PT_OK;
}

int route_policy_parse(const json_t *doc, route_policy_t **out, buf_t *err)
{
    *out = NULL;
    if (!json_is_object(doc)) {
        why(err, "a policy document must be an object");
        return PT_EINVAL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, "Version") != 0 && strcmp(k, "Statement") != 0 && strcmp(k, "Id") != 0) {
            why(err, "unknown policy element %s", k);
            return PT_EINVAL;
        }
    }
    const json_t *st = json_object_get(doc, "Statement");
    size_t n = json_is_object(st) ? 1 : json_is_array(st) ? json_array_size(st) : 0;
    if (!st || (!json_is_object(st) && !json_is_array(st)) || n > 1024) {
        why(err, "Statement must be an object or a list of at most 1024 statements");
        return PT_EINVAL;
    }
    route_policy_t *p = pt_xcalloc(1, sizeof *p);
    p->st = n ? pt_xcalloc(n, sizeof *p->st) : NULL;
    for (size_t i = 0; i < n; i++) {
        int rc = statement(json_is_object(st) ? st : json_array_get(st, i), &p->st[i], err);
        p->n = i + 1; /* freed by route_policy_free even when half-read */
        if (rc != PT_OK) {
            route_policy_free(p);
            return rc;
        }
    }
    *out = p;
    return PT_OK;
}

/* IAM actions are "service:Action", case-insensitive, with wildcards. */
static bool action_match(const char *pat, const char *action)
{
    char a[128], b[128];
    size_t i;
    for (i = 0; pat[i] && i < sizeof a - 1; i++)
        a[i] = (char)(pat[i] >= 'A' && pat[i] <= 'Z' ? pat[i] + 32 : pat[i]);
    a[i] = '\0';
    for (i = 0; action[i] && i < sizeof b - 1; i++)
        b[i] = (char)(action[i] >= 'A' && action[i] <= 'Z' ? action[i] + 32 : action[i]);
    b[i] = '\0';
    return route_wildcard_match(a, b);
}

static bool resource_match(const char *pat, const char *res, const char *api_arn)
{
    static const char short_form[] = "execute-api:";
    if (api_arn && strncmp(pat, short_form, sizeof short_form - 1) == 0) {
        /* REST's shorthand "execute-api:/stage/METHOD/path" names this API's resources. */
        size_t al = strlen(api_arn);
        if (strncmp(res, api_arn, al) != 0)
            return false;
        return route_wildcard_match(pat + sizeof short_form - 1, res + al);
    }
    return route_wildcard_match(pat, res);
}

static bool any_cidr(const route_cidr_t *l, size_t n, const char *ip)
{
    for (size_t i = 0; i < n; i++)
        if (route_cidr_match(&l[i], ip))
            return true;
    return false;
}

static bool applies(const stmt_t *s, const char *action, const char *res, const char *api_arn,
                    const char *ip)
{
    bool a = false, r = false;
    for (size_t i = 0; i < s->nactions && !a; i++)
        a = action_match(s->actions[i], action);
    if (a == s->not_action)
        return false;
    for (size_t i = 0; i < s->nresources && !r; i++)
        r = resource_match(s->resources[i], res, api_arn);
    if (r == s->not_resource)
        return false;
    if (s->has_ip_in && (!ip || !any_cidr(s->ip_in, s->nip_in, ip)))
        return false;
    if (s->has_ip_out && (!ip || any_cidr(s->ip_out, s->nip_out, ip)))
        return false;
    return true;
}

route_effect_t route_policy_eval(const route_policy_t *p, const char *action, const char *resource,
                                 const char *api_arn, const char *source_ip)
{
    route_effect_t e = ROUTE_EFFECT_NONE;
    if (!p)
        return e;
    for (size_t i = 0; i < p->n; i++) {
        if (!applies(&p->st[i], action, resource, api_arn, source_ip))
            continue;
        if (p->st[i].deny)
            return ROUTE_EFFECT_DENY;
        e = ROUTE_EFFECT_ALLOW;
    }
    return e;
}

bool route_policy_has_allow(const route_policy_t *p)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (!p->st[i].deny)
            return true;
    return false;
}
