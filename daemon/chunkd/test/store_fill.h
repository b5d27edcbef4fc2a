/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test set-up for tests that include chunk_store.c: many replicas at once
 * (files and records without a sync each), and counting them.
 */
#ifndef ZBS_CHUNKD_STORE_FILL_H
#define ZBS_CHUNKD_STORE_FILL_H

#include <dirent.h>

/* Replicas first..first+n-1 at epoch: sparse files, records in one
 * transaction, in the index without a descriptor (no IO on them). */
static inline void store_fill(struct chunk_store *st, uint64_t first, unsigned n, uint64_t epoch)
{
	struct chunk_replica **v = calloc(n, sizeof(*v));

	assert_non_null(v);
	for (unsigned i = 0; i < n; i++) {
		char name[32];
		int fd;

		rep_name(first + i, name, sizeof(name));
		fd = openat(st->rep_dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)ZBS_EXTENT_SIZE), 0);
		close(fd);
		v[i] = replica_new(first + i, epoch, -1, false);
		assert_non_null(v[i]);
		v[i]->meta_dirty = true;
		pthread_rwlock_wrlock(&st->table_lock);
		assert_int_equal(table_insert_locked(st, v[i]), 0);
		pthread_rwlock_unlock(&st->table_lock);
	}
	assert_int_equal(persist(st, v, n, true), 0);
	free(v);
}

/* Files in <dir>/replicas. */
static inline int store_fill_count_files(const char *dir)
{
	char p[700];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s/replicas", dir);
	d = opendir(p);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* chunk_store_foreach_replica() callback: counts into *(int *)arg. */
static inline int store_fill_count_cb(const struct chunk_replica_info *i, void *arg)
{
	(void)i;
	(*(int *)arg)++;
	return 0;
}

#endif
