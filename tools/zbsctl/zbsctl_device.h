/* SPDX-License-Identifier: GPL-2.0 */
/* Device ioctls for zbsctl objects (device, attach/detach). */
#ifndef ZBSCTL_DEVICE_H
#define ZBSCTL_DEVICE_H

#include <stdint.h>
#include <linux/zbs.h>
#include <linux/zbs_layout.h>

int zbsctl_dev_info(int fd, uint32_t id, struct zbs_ioc_dev_info *info);
int zbsctl_dev_list(int fd, uint32_t *ids, uint32_t cap);
/* /dev/zbsN, zbsN, N, or an attached volume's id or name -> device id */
int zbsctl_dev_resolve(int fd, const char *arg, uint32_t *id);
/* Prints a clear message on failure; returns 0 or -1. */
int zbsctl_dev_add(int fd, const struct zbs_ioc_dev_config *cfg, uint32_t *id);
/* Returns an exit status, with a message on failure. */
int zbsctl_dev_del(int fd, const char *arg);

#endif
