/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Linked into the test programs of ThreadSanitizer builds only.
 *
 * On Linux, GMutex and GCond are built on futexes inside libglib, which is
 * not compiled with TSan: the lock's happens-before edge is invisible and
 * every access a GMutex protects is reported as a data race. (GRecMutex,
 * GRWLock and GThread use pthreads, which TSan intercepts, and need
 * nothing.) These definitions take precedence over libglib's for every
 * call from the library and the tests, run the real function, and tell
 * TSan about the ordering with __tsan_acquire()/__tsan_release() on the
 * lock's address.
 *
 * libglib's calls to its own locks are bound inside libglib and not seen
 * here: data handed between threads only through glib internals (a
 * GAsyncQueue, a GMainContext source) can still be reported.
 */
#include <dlfcn.h>
#include <glib.h>
#include <sanitizer/tsan_interface.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * The real function, looked up once. A racy first lookup from two threads
 * stores the same value twice; the atomics keep TSan from flagging it.
 */
static void *real_function(void **cache, const char *name)
{
    void *fn = __atomic_load_n(cache, __ATOMIC_ACQUIRE);

    if (fn == NULL) {
        fn = dlsym(RTLD_NEXT, name);
        if (fn == NULL) {
            fprintf(stderr, "tsan-glib: no %s after the test program\n", name);
            abort();
        }
        __atomic_store_n(cache, fn, __ATOMIC_RELEASE);
    }
    return fn;
}

#define REAL(ret, name, args)                                                 \
    static void *real_##name##_cache;                                         \
    typedef ret(*name##_fn) args;                                             \
    static name##_fn real_##name(void)                                        \
    {                                                                         \
        union {                                                               \
            void *object;                                                     \
            name##_fn function;                                               \
        } u = {real_function(&real_##name##_cache, #name)};                   \
        return u.function;                                                    \
    }

REAL(void, g_mutex_lock, (GMutex *))
REAL(void, g_mutex_unlock, (GMutex *))
REAL(gboolean, g_mutex_trylock, (GMutex *))
REAL(void, g_cond_wait, (GCond *, GMutex *))
REAL(gboolean, g_cond_wait_until, (GCond *, GMutex *, gint64))
REAL(gboolean, g_once_init_enter, (volatile void *))
REAL(void, g_once_init_leave, (volatile void *, gsize))

void g_mutex_lock(GMutex *mutex)
{
    real_g_mutex_lock()(mutex);
    __tsan_acquire(mutex);
}

void g_mutex_unlock(GMutex *mutex)
{
    __tsan_release(mutex);
    real_g_mutex_unlock()(mutex);
}

gboolean g_mutex_trylock(GMutex *mutex)
{
    if (!real_g_mutex_trylock()(mutex)) {
        return FALSE;
    }
    __tsan_acquire(mutex);
    return TRUE;
}

void g_cond_wait(GCond *cond, GMutex *mutex)
{
    __tsan_release(mutex);
    real_g_cond_wait()(cond, mutex);
    __tsan_acquire(mutex);
}

gboolean g_cond_wait_until(GCond *cond, GMutex *mutex, gint64 end_time)
{
    gboolean signalled;

    __tsan_release(mutex);
    signalled = real_g_cond_wait_until()(cond, mutex, end_time);
    __tsan_acquire(mutex);
    return signalled;
}

/*
 * g_once_init_enter() is a macro around this function; the winner's
 * initialisation happens before anyone sees the value.
 */
gboolean(g_once_init_enter)(volatile void *location)
{
    gboolean must_init = real_g_once_init_enter()(location);

    __tsan_acquire((void *)location);
    return must_init;
}

void(g_once_init_leave)(volatile void *location, gsize result)
{
    __tsan_release((void *)location);
    real_g_once_init_leave()(location, result);
}

/*
 * What the wrappers above cannot reach: GLib's calls to its own locks are
 * bound inside libglib. Sources attached to a GMainContext from another
 * thread (dms_dma_submit(), map clients fired by another thread's unmap)
 * make GLib's bookkeeping look like races inside the realloc()/free() it
 * calls. Ignore accesses of interceptors called from libglib itself;
 * everything the library and the tests do stays checked (a deliberate
 * race in the engine was still reported with this in place).
 */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "called_from_lib:libglib-2.0.so.0\n";
}
