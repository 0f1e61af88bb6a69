/*
 * shimlog.h - a shim's log stream, logged with its fields (shimlog.c).
 */
#pragma once

#include <stdint.h>

struct frame;
struct helper;

/**
 * shimlog_submit() - log the log stream frame @f from the shim of the
 * session @io_base_n. An unreadable payload is logged as such; the
 * connection goes on either way.
 */
void shimlog_submit(struct helper *h, uint64_t io_base_n, const struct frame *f);
