/* telldir()/seekdir() through the kernel's NFS client: the positions are the server's READDIR
 * cookies (RFC 1813 §3.3.16), so a seekdir() to one must resume the listing right after the
 * entry it was taken at, also once the client's cached directory pages are gone and it has to
 * ask the server from that cookie. Built static on the host by prepare.sh, run by selftest.sh.
 *
 *   seekdir_check DIR [N]    creates DIR with N files (default 300) and prints one line:
 *   SEEKDIR ok entries=E seeks=S | SEEKDIR FAIL <what>
 * Exit status 0 only for "ok".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ENTRIES 4096

static char names[MAX_ENTRIES][NAME_MAX + 1];
static long after[MAX_ENTRIES]; /* telldir() right after names[i] was returned */

static int fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("SEEKDIR FAIL ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    return 1;
}

/* Sync and drop the page cache, directory pages included (root only; best effort). */
static void drop_caches(void) {
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "3", 1) != 1) {
            /* not fatal: the seeks then run from cached pages */
        }
        close(fd);
    }
}

int main(int argc, char** argv) {
    if (argc < 2) return fail("usage: seekdir_check DIR [N]");
    const char* dir = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 300;
    if (n < 10 || n > MAX_ENTRIES - 2) return fail("bad N %s", argv[2]);
    char path[4096];
    if (mkdir(dir, 0755) != 0) return fail("mkdir %s: %s", dir, strerror(errno));
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/entry-%04d-with-a-longer-name", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0) return fail("create %s: %s", path, strerror(errno));
        close(fd);
    }
    drop_caches();

    DIR* d = opendir(dir);
    if (!d) return fail("opendir: %s", strerror(errno));
    int count = 0;
    struct dirent* e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (count == MAX_ENTRIES) return fail("more than %d entries", MAX_ENTRIES);
        snprintf(names[count], sizeof names[count], "%s", e->d_name);
        after[count] = telldir(d);
        count++;
    }
    if (errno != 0) return fail("readdir: %s", strerror(errno));
    if (count != n + 2) return fail("listing has %d entries, want %d", count, n + 2);

    /* Forward, backward, to the start and to the very end, from a cold cache. */
    int picks[] = {count / 2, 0, 1, count - 2, 7, count / 3, count - 3, 2 * count / 3, 3};
    int seeks = 0;
    drop_caches();
    for (size_t k = 0; k < sizeof picks / sizeof picks[0]; k++) {
        int i = picks[k];
        seekdir(d, after[i]);
        errno = 0;
        e = readdir(d);
        if (!e) {
            return fail("seekdir after #%d %s: readdir gave %s, want %s", i, names[i],
                        errno ? strerror(errno) : "the end", names[i + 1]);
        }
        if (strcmp(e->d_name, names[i + 1]) != 0) {
            return fail("seekdir after #%d %s: readdir gave %s, want %s", i, names[i], e->d_name,
                        names[i + 1]);
        }
        seeks++;
    }
    /* After the last entry there is nothing more. */
    seekdir(d, after[count - 1]);
    errno = 0;
    e = readdir(d);
    if (e) return fail("seekdir after the last entry: readdir gave %s, want the end", e->d_name);
    seeks++;
    closedir(d);
    printf("SEEKDIR ok entries=%d seeks=%d\n", count, seeks);
    return 0;
}
