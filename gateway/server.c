/* server.c: process lifecycle: store, sweep, integration thread, listeners, workers, shutdown. */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/file.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Binds a listening socket; SO_REUSEPORT lets every worker own one on the same port, and the
 * kernel spreads new connections over them. */
static int listen_on(const char *host, int port, bool reuseport, int *fd_out, int *port_out,
                     buf_t *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai != 0) {
        buf_printf(err, "cannot resolve listen address %s: %s", host, gai_strerror(gai));
        return PT_EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        buf_printf(err, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return PT_EIO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        buf_printf(err, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return PT_EIO;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return PT_OK;
}

static int write_port_file(const char *path, int listen_port, int admin_port, buf_t *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        buf_printf(err, "cannot write port file %s: %s", path, strerror(errno));
        return PT_EIO;
    }
    fprintf(f, "{\"listen\": %d, \"admin\": %d}\n", listen_port, admin_port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        buf_printf(err, "cannot write port file %s: %s", path, strerror(errno));
        return PT_EIO;
    }
    return PT_OK;
}

/*
 * One gateway per data directory: a second one would sweep the first one's live connections
 * out of the registry at start-up. The lock is held for the life of the process and released
 * by the kernel however it ends.
 */
static int lock_data_dir(const char *dir, int *fd_out, buf_t *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/portico.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        buf_printf(err, "cannot open %s: %s", path, strerror(errno));
        return PT_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char other[32] = "";
        ssize_t n = pread(fd, other, sizeof other - 1, 0);
        other[n > 0 ? n : 0] = '\0';
        other[strcspn(other, "\n")] = '\0';
        buf_printf(err, "data directory %s is in use by another portico (pid %s)", dir,
                   other[0] ? other : "unknown");
        close(fd);
        return PT_EBUSY;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* The lock is what matters; the pid is only a hint for the message above. */
    }
    *fd_out = fd;
    return PT_OK;
}

/* ---- threads ------------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    gw_worker_t *w = arg;
    gw_worker_run(w);
    /* Refuse further posts; anything still queued is freed by dispose. */
    inbox_close(&w->inbox);
    return NULL;
}

static void build_creds(gw_server_t *srv)
{
    const route_server_t *s = &srv->cfg->server;
    srv->cbcreds = pt_xcalloc(s->ncredentials ? s->ncredentials : 1, sizeof *srv->cbcreds);
    for (size_t i = 0; i < s->ncredentials; i++) {
        cb_cred_t *c = &srv->cbcreds[i];
        c->sig.access_key_id = s->credentials[i].access_key_id;
        c->sig.secret_access_key = s->credentials[i].secret_access_key;
        c->sig.session_token = s->credentials[i].session_token;
        c->stages = (const char *const *)s->credentials[i].stages;
        c->nstages = s->credentials[i].nstages;
    }
    srv->cbcfg.creds = srv->cbcreds;
    srv->cbcfg.ncreds = s->ncredentials;
    srv->cbcfg.region = s->region;
    srv->cbcfg.account_id = s->account_id;
    srv->cbcfg.node = srv->node;
    srv->cbcfg.nworkers = srv->nworkers;
    srv->cbcfg.explain_signature = true;
}

int gw_server_start(gw_server_t *srv, route_config_t *cfg, const char *port_file, buf_t *err)
{
    const route_server_t *s = &cfg->server;
    int rc;
    memset(srv, 0, sizeof *srv);
    srv->cfg = cfg;
    srv->limits = &s->limits;
    srv->node = (uint8_t)s->node_id;
    srv->started_ms = time_now_ms();
    srv->nworkers = s->workers > 0 ? s->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (srv->nworkers < 1)
        srv->nworkers = 1;
    if (srv->nworkers > 64)
        srv->nworkers = 64;
    id_gen_t g;
    id_gen_init(&g, 0, 0);
    id_random(&g, &srv->epoch, sizeof srv->epoch);
    build_creds(srv);
    rc = gw_aws_init(&srv->aws, cfg, err);
    if (rc != PT_OK) {
        free(srv->cbcreds);
        return rc;
    }
    gw_aws_log(&srv->aws);

    char ebuf[512];
    store_opts_t so = {.dir = s->data_dir, .max_map_size = (size_t)s->limits.registry_max_bytes};
    if (so.max_map_size && so.max_map_size < ((size_t)1 << 20))
        so.max_map_size = (size_t)1 << 20; /* LMDB needs a few pages per database */
    if (so.max_map_size && so.max_map_size < ((size_t)64 << 20))
        so.map_size = so.max_map_size; /* the initial map may not exceed the limit */
    rc = store_open(&so, &srv->store, ebuf, sizeof ebuf);
    if (rc != PT_OK) {
        buf_printf(err, "%s", ebuf);
        free(srv->cbcreds);
        gw_aws_dispose(&srv->aws);
        return rc;
    }
    rc = lock_data_dir(s->data_dir, &srv->lock_fd, err);
    if (rc != PT_OK) {
        store_close(srv->store);
        free(srv->cbcreds);
        gw_aws_dispose(&srv->aws);
        return rc;
    }
    rc = gw_ops_init(srv, err); /* metrics and access logs, before any worker counts */
    if (rc != PT_OK) {
        store_close(srv->store);
        close(srv->lock_fd);
        free(srv->cbcreds);
        gw_aws_dispose(&srv->aws);
        return rc;
    }

    integ_opts_t io = {0};
    rc = integ_start(&io, &srv->integ);
    if (rc != PT_OK) {
        buf_printf(err, "cannot start the integration thread");
        return rc;
    }

    /* Listeners first, all of them, so a bind failure stops us before any thread runs. */
    srv->workers = pt_xcalloc((size_t)srv->nworkers + 1, sizeof *srv->workers);
    int *fds = pt_xcalloc((size_t)srv->nworkers + 1, sizeof *fds);
    int port = s->listen.port;
    for (int i = 0; i < srv->nworkers; i++) {
        int bound;
        rc = listen_on(s->listen.host, port, true, &fds[i], &bound, err);
        if (rc != PT_OK)
            goto fail;
        port = bound; /* port 0: the first bind picks it, the others share it */
    }
    srv->listen_port = port;
    rc = listen_on(s->admin_listen.host, s->admin_listen.port, false, &fds[srv->nworkers],
                   &srv->admin_port, err);
    if (rc != PT_OK)
        goto fail;
    for (int i = 0; i <= srv->nworkers; i++) {
        rc = gw_worker_init(&srv->workers[i], srv, i, fds[i], i == srv->nworkers);
        fds[i] = -1;
        if (rc != PT_OK) {
            buf_printf(err, "cannot set up worker %d", i);
            goto fail;
        }
    }
    free(fds);
    fds = NULL;
    srv->azcache = gw_azc_create(srv->epoch); /* issue 7: authorizer results (authz.c) */
    srv->limiter = gw_limits_create(cfg);     /* issue 7: shared throttles (limits.c) */
    /* Connections a killed run left in the registry, and $disconnects it still owed: fired
     * on worker 0 before it runs (its inbox takes the results once it does). */
    gw_outbox_recover(srv, &srv->workers[0]);
    for (int i = 0; i <= srv->nworkers; i++)
        pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
    gw_ops_start(srv);
    if (port_file) {
        rc = write_port_file(port_file, srv->listen_port, srv->admin_port, err);
        if (rc != PT_OK) {
            gw_server_stop(srv);
            return rc;
        }
    }
    LOG_INFO("portico %s listening on %s:%d (admin %s:%d), %d workers", PORTICO_VERSION,
             s->listen.host, srv->listen_port, s->admin_listen.host, srv->admin_port,
             srv->nworkers);
    return PT_OK;
fail:
    for (int i = 0; fds && i <= srv->nworkers; i++)
        if (fds[i] > 0)
            close(fds[i]);
    free(fds);
    integ_stop(srv->integ, 0);
    srv->integ = NULL;
    gw_ops_free(srv);
    store_close(srv->store);
    srv->store = NULL;
    close(srv->lock_fd);
    free(srv->workers);
    srv->workers = NULL;
    free(srv->cbcreds);
    gw_aws_dispose(&srv->aws);
    return rc;
}

void gw_server_stop(gw_server_t *srv)
{
    atomic_store(&srv->stopping, true);
    for (int i = 0; i <= srv->nworkers; i++) {
        inbox_msg_t *m = pt_xcalloc(1, sizeof *m);
        m->type = GW_MSG_STOP;
        if (!gw_worker_post(&srv->workers[i], m))
            free(m);
    }
    for (int i = 0; i <= srv->nworkers; i++)
        pthread_join(srv->workers[i].thread, NULL);
    /* Workers are done: let the $disconnect calls they fired finish. */
    integ_stop(srv->integ, (int)srv->limits->shutdown_grace_ms);
    gw_ops_stop(srv); /* the last access-log lines are written */
    for (int i = 0; i <= srv->nworkers; i++)
        gw_worker_dispose(&srv->workers[i]);
    gw_ops_free(srv);
    gw_azc_destroy(srv->azcache);
    srv->azcache = NULL;
    gw_limits_flush(srv->limiter, srv->store); /* usage-plan quotas survive a restart */
    gw_limits_destroy(srv->limiter);
    srv->limiter = NULL;
    store_close(srv->store);
    close(srv->lock_fd);
    free(srv->workers);
    free(srv->cbcreds);
    gw_aws_dispose(&srv->aws);
    LOG_INFO("portico stopped");
}
