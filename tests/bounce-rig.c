/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rig of the thread-cache stress tests; see bounce-rig.h.
 */
#include "bounce-rig.h"

MemDev *rig_memdev(size_t size, unsigned salt)
{
    MemDev *dev = NULL;

    assert_int_equal(memdev_new(size, MEMDEV_THREADS, &dev), 0);
    memdev_fill_pattern(dev, salt);
    return dev;
}

void rig_init(Rig *rig, size_t size, unsigned salt)
{
    rig->salt = salt;
    rig->msg = rig_memdev(size, salt);
    rig->space =
        tc_space_msg("cache", rig->msg, 0, 0, &rig->region, &rig->root);
}

void rig_drop_regions(Rig *rig)
{
    rig->region = dms_region_unref(rig->region);
    rig->root = dms_region_unref(rig->root);
}

void rig_fini(Rig *rig)
{
    rig->space = dms_space_unref(rig->space);
    rig_drop_regions(rig);
    assert_int_equal(dms_update_barrier(), 0);
    assert_int_equal(atomic_load(&rig->msg->notified), 1);
    tc_memdev_free(rig->msg);
}

void assert_full_grant(DmsSpace *space, size_t limit)
{
    size_t len = limit;
    void *p;

    assert_int_equal(dms_space_map(space, 0, &len, FROM, NULL, &p), 0);
    assert_int_equal(len, limit);
    assert_int_equal(tc_stats(space).bounce_in_use, limit);
    assert_int_equal(dms_space_unmap(space, p, len, FROM, 0), 0);
    assert_int_equal(tc_stats(space).bounce_in_use, 0);
}

int map_checked(const Rig *rig, uint64_t addr, size_t want, DmsDirection dir,
                unsigned wsalt, size_t access, uint8_t **p)
{
    size_t len = want;
    int r = dms_space_map(rig->space, addr, &len, dir, NULL, (void **)p);

    if (r != 0)
        return r;
    if (len != want)
        return -EILSEQ;
    for (size_t k = 0; k < len; k++) {
        if ((*p)[k] != (dir == TO ? memdev_pattern(addr + k, rig->salt) : 0))
            r = -EILSEQ;
        if (k < access)
            (*p)[k] = memdev_pattern(addr + k, wsalt);
    }
    return r;
}

/* ---- helper threads ---- */

static gpointer helper_main(gpointer data)
{
    Helper *h = data;

    g_mutex_lock(&h->lock);
    for (;;) {
        while (!h->busy && !h->stop)
            g_cond_wait(&h->cond, &h->lock);
        if (!h->busy)
            break;
        g_mutex_unlock(&h->lock);
        h->job(h->arg);
        g_mutex_lock(&h->lock);
        h->busy = false;
        g_cond_broadcast(&h->cond);
    }
    g_mutex_unlock(&h->lock);
    return NULL;
}

Helper *helper_new(void)
{
    Helper *h = g_new0(Helper, 1);

    g_mutex_init(&h->lock);
    g_cond_init(&h->cond);
    h->thread = g_thread_new("helper", helper_main, h);
    return h;
}

void helper_post(Helper *h, JobFunc job, void *arg)
{
    g_mutex_lock(&h->lock);
    h->job = job;
    h->arg = arg;
    h->busy = true;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
}

void helper_wait(Helper *h)
{
    g_mutex_lock(&h->lock);
    while (h->busy)
        g_cond_wait(&h->cond, &h->lock);
    g_mutex_unlock(&h->lock);
}

void helper_call(Helper *h, JobFunc job, void *arg)
{
    helper_post(h, job, arg);
    helper_wait(h);
}

void helper_stop(Helper *h)
{
    helper_wait(h);
    g_mutex_lock(&h->lock);
    h->stop = true;
    g_cond_broadcast(&h->cond);
    g_mutex_unlock(&h->lock);
    g_thread_join(h->thread);
    g_mutex_clear(&h->lock);
    g_cond_clear(&h->cond);
    g_free(h);
}
/* ---- jobs ---- */

void pairs_job(void *arg)
{
    Pairs *pj = arg;
    GRand *rand = g_rand_new_with_seed(pj->seed);

    for (unsigned i = 0; i < pj->count && !pj->failed; i++) {
        DmsDirection dir = i % 2 ? FROM : TO;
        size_t len = (size_t)g_rand_int_range(rand, 1, SMALL_MAX + 1);
        size_t access = dir == FROM ? len : 0;
        uint8_t *p;

        if (map_checked(pj->rig, pj->base, len, dir, pj->rig->salt, access,
                        &p) != 0 ||
            dms_space_unmap(pj->rig->space, p, len, dir, access) != 0)
            pj->failed = true;
        pj->max_len = MAX(pj->max_len, len);
        pj->written += access;
    }
    g_rand_free(rand);
}

void run_pairs(Helper *h, Pairs *pj)
{
    helper_call(h, pairs_job, pj);
    assert_false(pj->failed);
}

bool item_map(Item *it, unsigned wsalt)
{
    if (map_checked(it->rig, it->addr, it->len, it->dir, wsalt, it->access,
                    &it->p) != 0)
        return false;
    atomic_store_explicit(&it->ready, 1, memory_order_release);
    return true;
}

bool item_unmap(Item *it)
{
    return atomic_load_explicit(&it->ready, memory_order_acquire) == 1 &&
           dms_space_unmap(it->rig->space, it->p, it->len, it->dir,
                           it->access) == 0;
}

void item_map_job(void *arg)
{
    ((Item *)arg)->ok = item_map(arg, SALT_WRITTEN);
}

void item_unmap_job(void *arg)
{
    ((Item *)arg)->ok = item_unmap(arg);
}
/* ---- plain threads ---- */

void workers_run(Worker *w, unsigned n, GThreadFunc fn, void *ctx)
{
    for (unsigned i = 0; i < n; i++) {
        w[i] = (Worker){.ctx = ctx, .id = i};
        w[i].thread = g_thread_new("worker", fn, &w[i]);
    }
}

void workers_join(Worker *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        g_thread_join(w[i].thread);
}
