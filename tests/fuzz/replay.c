/*
 * replay.c — a main() for the libFuzzer harnesses without libFuzzer, so
 * that `make check` (gcc, with and without the sanitizers) runs every
 * committed seed and regression input through its harness.
 *
 * Usage: replay_NAME FILE|DIR...  Each file (each regular file in a
 * directory, not recursing) goes once through LLVMFuzzerTestOneInput();
 * a harness that finds a problem aborts, so getting to the end is the
 * pass.  Names each input on stderr before running it; prints
 * "NAME: N inputs" and exits 0.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX (1024 * 1024)	/* no seed comes near this */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replay_count;

static void
replay_file(const char *path)
{
	static uint8_t buf[REPLAY_MAX];
	uint8_t *copy;
	size_t n;
	FILE *f;

	fprintf(stderr, "%s\n", path);	/* the last one named failed */
	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		exit(2);
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		perror(path);
		exit(2);
	}
	fclose(f);
	/* An allocation of exactly the input's size, as libFuzzer does, so
	 * that the sanitizers see a read past its end. */
	if ((copy = malloc(n > 0 ? n : 1)) == NULL)
		exit(2);
	if (n > 0)
		memcpy(copy, buf, n);
	(void)LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	replay_count++;
}

static int
replay_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's regular files, in name order (a failure reproduces). */
static void
replay_dir(const char *dir)
{
	struct dirent *de;
	struct stat sb;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		exit(2);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((names = realloc(names, cap * sizeof(*names))) ==
			    NULL)
				exit(2);
		}
		if ((names[n++] = strdup(de->d_name)) == NULL)
			exit(2);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), replay_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			replay_file(path);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	struct stat sb;
	int i;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) < 0) {
			perror(argv[i]);
			return 2;
		}
		if (S_ISDIR(sb.st_mode))
			replay_dir(argv[i]);
		else
			replay_file(argv[i]);
	}
	printf("%s: %lu inputs\n", argv[0], replay_count);
	return 0;
}
