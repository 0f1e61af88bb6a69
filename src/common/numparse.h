/*
 * numparse.h - strict parsing of the numbers given on command lines
 * (counts, fds, uids, milliseconds, seconds). One implementation for every
 * binary, so "12x", "-1", " 3" or "" are refused the same way everywhere.
 */
#pragma once

/**
 * numparse_ulong() - a plain decimal number within [@min, @max]: digits
 * only (no sign, space or base prefix), no overflow.
 * Return: 0 with *out set, or -EINVAL.
 */
int numparse_ulong(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out);

/**
 * numparse_seconds() - a duration in seconds, fractions allowed ("0.5"):
 * finite, >= 0 and <= @max. Callers that need a positive value check it.
 * Return: 0 with *out set, or -EINVAL.
 */
int numparse_seconds(const char *s, double max, double *out);
