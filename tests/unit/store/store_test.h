/* store_test.h: helpers shared by the store's unit tests: removing a test's directory tree. */
#ifndef PORTICO_STORE_TEST_H
#define PORTICO_STORE_TEST_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int store_test_rm_entry(const char *path, const struct stat *sb, int flag,
                                      struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf dir (a test's temporary registry); 0 on success. */
static inline int store_test_rm_rf(const char *dir)
{
    return nftw(dir, store_test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
