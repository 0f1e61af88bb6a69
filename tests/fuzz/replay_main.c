/*
 * replay_main.c - a main() for the libFuzzer harnesses of tests/fuzz
 * without libFuzzer: every file named on the command line, and every
 * regular file in each directory named there (not recursive), is read
 * whole and passed once to LLVMFuzzerTestOneInput(). Built with the
 * normal compiler and flags (mk/fuzz.am), so `make check` replays the
 * kept corpora (seeds and crash reproducers) through every harness, with
 * the sanitizers when the build has them; a broken invariant aborts and
 * fails the test.
 *
 * Usage: replay_<harness> FILE|DIR...   (prints how many inputs ran)
 * Exit status: 0, or 1 when an argument cannot be read or ran nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs above this are not corpus files: refuse rather than guess. */
#define REPLAY_INPUT_MAX	(16u * 1024u * 1024u)

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;
	size_t n;

	if (!f || fstat(fileno(f), &st) < 0 || st.st_size > REPLAY_INPUT_MAX) {
		fprintf(stderr, "replay: %s: %s\n", path,
			f ? (errno ? strerror(errno) : "too large") : strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	/* One byte more than needed: malloc(0) and a NULL data pointer are
	 * not what libFuzzer passes either. */
	buf = malloc((size_t)st.st_size + 1);
	n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (!buf || n != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	/* A copy of exactly the input's size, so ASan sees reads past it. */
	uint8_t *exact = malloc(n ? n : 1);

	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int replay_dir(const char *dir, unsigned long *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	int r = 0;

	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				r = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	int status = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			status = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) < 0)
				status = 1;
		} else if (replay_file(argv[i]) < 0) {
			status = 1;
		} else {
			count++;
		}
	}
	printf("%s: %lu inputs replayed\n", argc > 0 ? argv[0] : "replay", count);
	if (count == 0)
		status = 1;
	return status;
}
