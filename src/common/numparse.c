/*
 * numparse.c - strict number parsing for command-line options
 * (numparse.h). strtoul() and strtod() alone accept leading spaces, a
 * sign, and (strtoul) negative values that wrap; these wrappers refuse all
 * of that and anything left over after the number.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "numparse.h"

int numparse_ulong(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out)
{
	char *end;
	unsigned long v;

	/* strtoul would skip spaces and take "-1" as ULONG_MAX. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int numparse_seconds(const char *s, double max, double *out)
{
	char *end;
	double v;

	/* A digit or a dot first: no spaces, signs, "inf" or "nan". */
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}
