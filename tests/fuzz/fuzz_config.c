/* fuzz_config.c: libFuzzer target for the configuration loader (route_config_parse).
 * Input: a config file, JSON or YAML. Checks the invariants of the result, then frees it. */
#include "common/err.h"
#include "routes/route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* Every line "fuzz.json:LINE: ..." or the one summary line; at most 20 + 1 lines. */
static void check_errors(const buf_t *err)
{
    check(err->p && err->len > 0 && err->p[err->len - 1] == '\n');
    size_t lines = 0;
    for (const char *p = err->p; *p;) {
        const char *e = strchr(p, '\n');
        check(e != NULL);
        check(strncmp(p, "fuzz.json:", 10) == 0);
        p = e + 1;
        lines++;
    }
    check(lines >= 1 && lines <= 21);
}

static bool in_array(const void *p, const void *base, size_t n, size_t size)
{
    const char *c = p, *b = base;
    return c >= b && c < b + n * size && (size_t)(c - b) % size == 0;
}

static void check_api(const route_api_t *api)
{
    check(api->id && strlen(api->id) == 10 && api->name);
    check(api->protocol == ROUTE_PROTO_WEBSOCKET);
    check(api->rse && api->route_selection_expression && api->api_key_selection_expression);
    check(api->nroutes > 0 && api->nstages > 0);
    for (size_t i = 0; i < api->nintegrations; i++) {
        const route_integration_t *g = &api->integrations[i];
        check(g->id && g->method && g->passthrough_behavior && g->payload_format_version);
        check(g->timeout_ms >= 50 && g->timeout_ms <= 29000);
        check((g->type == ROUTE_INTEG_MOCK) == (g->uri == NULL));
        check(!g->template_selection_expression == !g->tse);
        for (size_t k = 0; k < g->nresponses; k++)
            check(g->responses[k].key != NULL);
    }
    for (size_t i = 0; i < api->nroutes; i++) {
        const route_route_t *r = &api->routes[i];
        check(r->key && r->id && r->authorization_type);
        check(route_find(api, r->key, strlen(r->key)) == r);
        check(!r->integration || in_array(r->integration, api->integrations, api->nintegrations,
                                          sizeof *r->integration));
        check(!r->two_way || strcmp(r->route_response_selection_expression, "$default") == 0);
    }
    for (size_t i = 0; i < api->nstages; i++) {
        const route_stage_t *st = &api->stages[i];
        check(st->name && route_stage_find(api, st->name, strlen(st->name)) == st);
        check(st->nroute_settings == st->route_settings_keys.n);
        for (size_t k = 0; k < st->route_settings_keys.n; k++)
            check(route_find(api, st->route_settings_keys.items[k].key,
                             strlen(st->route_settings_keys.items[k].key)) != NULL);
    }
    json_t *body = NULL;
    (void)route_ws_select(api, "{\"action\":\"a\"}", 14, &body);
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    route_config_t *cfg = NULL;
    buf_t err = BUF_INIT;
    int rc = route_config_parse((const char *)data, size, "fuzz.json", &cfg, &err);
    check((rc == PT_OK) == (cfg != NULL));
    if (rc != PT_OK) {
        check(rc == PT_EPARSE || rc == PT_EINVAL);
        check_errors(&err);
    } else {
        check(err.len == 0);
        const route_server_t *s = &cfg->server;
        check(s->listen.host && s->admin_listen.host && s->data_dir && s->region && s->account_id &&
              s->log_level);
        check(cfg->napis > 0);
        for (size_t i = 0; i < cfg->napis; i++) {
            check_api(&cfg->apis[i]);
            check(route_api_find(cfg, cfg->apis[i].id) == &cfg->apis[i]);
        }
        for (size_t i = 0; i < s->nmappings; i++)
            check(s->mappings[i].api && s->mappings[i].stage_ref);
    }
    route_config_free(cfg);
    buf_free(&err);
    return 0;
}
