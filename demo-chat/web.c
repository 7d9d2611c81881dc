/* web.c: the page's files, read once at start and served from memory. */
#include "demo-chat/server.h"

#include "common/err.h"
#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_FILES_MAX 64
#define WEB_FILE_MAX  (1u << 20)

static const char *content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < PT_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(((chat_web_file_t *)0)->name) || s[0] == '.')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return false;
    return true;
}

static int read_file(int dfd, const char *name, chat_web_file_t *f)
{
    int rc = PT_EIO;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > WEB_FILE_MAX)
        goto out;
    f->data = pt_xmalloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, f->data + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    f->len = got;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->type = content_type(name);
    rc = PT_OK;

out:
    if (rc != PT_OK) {
        free(f->data);
        f->data = NULL;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int chat_web_load(chat_web_t *w, const char *dir, char *err, size_t err_cap)
{
    memset(w, 0, sizeof *w);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_cap, "%s: %s", dir, strerror(errno));
        return PT_EIO;
    }
    w->files = pt_xcalloc(WEB_FILES_MAX, sizeof *w->files);
    struct dirent *e;
    while ((e = readdir(d)) && w->n < WEB_FILES_MAX) {
        if (!name_ok(e->d_name))
            continue;
        if (read_file(dirfd(d), e->d_name, &w->files[w->n]) == PT_OK)
            w->n++;
    }
    closedir(d);
    if (!chat_web_find(w, "/", 1)) {
        snprintf(err, err_cap, "%s: no index.html", dir);
        chat_web_dispose(w);
        return PT_EIO;
    }
    return PT_OK;
}

void chat_web_dispose(chat_web_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->files[i].data);
    free(w->files);
    memset(w, 0, sizeof *w);
}

const chat_web_file_t *chat_web_find(const chat_web_t *w, const char *path, size_t len)
{
    if (len == 0 || path[0] != '/')
        return NULL;
    const char *name = path + 1;
    size_t n = len - 1;
    if (n == 0) {
        name = "index.html";
        n = strlen(name);
    }
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->files[i].name) == n && memcmp(w->files[i].name, name, n) == 0)
            return &w->files[i];
    return NULL;
}
