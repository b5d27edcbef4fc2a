// SPDX-License-Identifier: GPL-2.0
/* The latency of this node's zbs block devices: see recover_blklat.h. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "recover_blklat.h"

int recover_blklat_read(const char *dir, uint64_t *ios, uint64_t *ms)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*ios = *ms = 0;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		/* fields 1, 4, 5, 8: reads, read ms, writes, write ms */
		uint64_t f[8];
		char path[512];
		FILE *fp;
		int n;

		if (strncmp(e->d_name, "zbs", 3) || e->d_name[3] < '0' || e->d_name[3] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		n = fscanf(fp, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			   " %" SCNu64 " %" SCNu64 " %" SCNu64, &f[0], &f[1], &f[2], &f[3], &f[4],
			   &f[5], &f[6], &f[7]);
		fclose(fp);
		if (n != 8)
			continue;
		*ios += f[0] + f[4];
		*ms += f[3] + f[7];
	}
	closedir(d);
	return 0;
}

uint64_t recover_blklat_avg_ns(void *arg, uint64_t now_ns)
{
	struct recover_blklat *b = arg;
	uint64_t ios, ms, avg = 0;

	(void)now_ns;
	if (recover_blklat_read(b->sys_block ? b->sys_block : "/sys/block", &ios, &ms))
		return 0;
	/* a device gone or added makes the sums go back: start again */
	if (b->primed && ios > b->ios && ms >= b->ms)
		avg = (ms - b->ms) * 1000000ULL / (ios - b->ios);
	b->primed = true;
	b->ios = ios;
	b->ms = ms;
	return avg;
}
