/*
 * spec.c - a "process" object of execcmd/newcontainer, as hyperstart
 * reads it, turned into what fork/exec needs.
 *
 *   id (string), user, group, additionalGroups, terminal (bool),
 *   stdio, stderr (sequence numbers), args (non-empty array of strings),
 *   envs ([{"env": K, "value": V}...]), workdir (string), rlimits,
 *   noNewPrivileges, capabilities
 *
 * user/group/rlimits/capabilities/noNewPrivileges are accepted and
 * ignored: the simulated VM runs processes with its own credentials.
 * With --strict-keys any other key is an ERROR: the real agent stops
 * reading "process" at the first key it does not know, so a proxy that
 * adds a key breaks real VMs, and the simulated one should say so.
 *
 * The environment is exactly the given envs, plus a default PATH when
 * none is given (a VM image's init would provide one). The executable is
 * looked up in that PATH here, before fork, so the child only has to
 * exec. A name found nowhere leaves path NULL: as in hyperstart, the
 * command is still ACKed and the child reports "not found" (proc.c).
 *
 * Ownership: strings in struct simvm_spec borrow from the JSON object,
 * except path and the envp strings, which spec_free() releases.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "simvm.h"

#define SPEC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Bounds on what one command may ask for. */
#define SPEC_MAX_ARGS 4096
#define SPEC_MAX_ENVS 4096

/* hyperstart's process keys (the lead's list for --strict-keys). */
static const char *const process_keys[] = {
	"id", "user", "group", "additionalGroups", "terminal", "stdio",
	"stderr", "args", "envs", "workdir", "rlimits", "noNewPrivileges",
	"capabilities", NULL,
};

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -1;
}

int spec_check_keys(struct json_object *obj, const char *what,
		    const char *const *known, char **err)
{
	json_object_object_foreach(obj, key, val) {
		size_t i;

		(void)val;
		for (i = 0; known[i]; i++)
			if (!strcmp(key, known[i]))
				break;
		if (!known[i])
			return fail(err, "unknown key \"%.64s\" in %s (--strict-keys: "
				    "the real agent ignores every key from there on)",
				    key, what);
	}
	return 0;
}

/* An optional unsigned integer member; absent: 0. */
static int get_seq(struct json_object *o, const char *key, uint64_t *out, char **err)
{
	struct json_object *v;
	int64_t n;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(err, "process.%s must be an integer", key);
	n = json_object_get_int64(v);
	if (n < 0)
		return fail(err, "process.%s must not be negative", key);
	*out = (uint64_t)n;
	return 0;
}

/* Is @path an executable regular file? */
static bool is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Find @name in the colon-separated @path list.
 * Return: 0 with *@found malloc'd, or NULL when it is nowhere; -ENOMEM. */
static int search_path(const char *name, const char *path, char **found)
{
	const char *p = path;

	*found = NULL;
	for (;;) {
		const char *end = strchrnul(p, ':');
		size_t dirlen = (size_t)(end - p);
		char *cand = NULL;

		/* An empty element means the current directory. */
		if (asprintf(&cand, "%.*s%s%s", (int)dirlen, p, dirlen ? "/" : "./",
			     name) < 0)
			return -ENOMEM;
		if (is_executable(cand)) {
			*found = cand;
			return 0;
		}
		free(cand);
		if (!*end)
			return 0;
		p = end + 1;
	}
}

static int parse_args(struct json_object *proc, struct simvm_spec *s, char **err)
{
	struct json_object *args;
	size_t n;

	if (!json_object_object_get_ex(proc, "args", &args) ||
	    !json_object_is_type(args, json_type_array) ||
	    (n = json_object_array_length(args)) == 0)
		return fail(err, "process.args must be a non-empty array of strings");
	if (n > SPEC_MAX_ARGS)
		return fail(err, "process.args: more than %d arguments", SPEC_MAX_ARGS);
	s->argv = calloc(n + 1, sizeof(*s->argv));
	if (!s->argv)
		return fail(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *a = json_object_array_get_idx(args, i);

		if (!json_object_is_type(a, json_type_string))
			return fail(err, "process.args must be a non-empty array of strings");
		s->argv[i] = (char *)json_object_get_string(a);
		if (strlen(s->argv[i]) != (size_t)json_object_get_string_len(a))
			return fail(err, "process.args[%zu] contains a NUL byte", i);
	}
	if (!*s->argv[0])
		return fail(err, "process.args[0] is empty");
	return 0;
}

static int parse_envs(struct json_object *proc, struct simvm_spec *s,
		      const char **path_env, char **err)
{
	struct json_object *envs = NULL;
	size_t n = 0, k = 0;

	*path_env = NULL;
	if (json_object_object_get_ex(proc, "envs", &envs) &&
	    !json_object_is_type(envs, json_type_null)) {
		if (!json_object_is_type(envs, json_type_array))
			return fail(err, "process.envs must be an array");
		n = json_object_array_length(envs);
	}
	if (n > SPEC_MAX_ENVS)
		return fail(err, "process.envs: more than %d entries", SPEC_MAX_ENVS);
	/* n entries, maybe a default PATH, the NULL. */
	s->envp = calloc(n + 2, sizeof(*s->envp));
	if (!s->envp)
		return fail(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(envs, i), *kv, *vv;
		const char *key, *val;

		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "env", &kv) ||
		    !json_object_is_type(kv, json_type_string) ||
		    !json_object_object_get_ex(e, "value", &vv) ||
		    !json_object_is_type(vv, json_type_string))
			return fail(err, "process.envs[%zu] must be {\"env\": K, \"value\": V}", i);
		key = json_object_get_string(kv);
		val = json_object_get_string(vv);
		if (!*key || strchr(key, '='))
			return fail(err, "process.envs[%zu]: invalid name", i);
		if (asprintf(&s->envp[k], "%s=%s", key, val) < 0) {
			s->envp[k] = NULL;
			return fail(err, "out of memory");
		}
		if (!strcmp(key, "PATH"))
			*path_env = s->envp[k] + 5;
		k++;
	}
	if (!*path_env) {
		s->envp[k] = strdup("PATH=" SPEC_DEFAULT_PATH);
		if (!s->envp[k])
			return fail(err, "out of memory");
		*path_env = SPEC_DEFAULT_PATH;
	}
	return 0;
}

int spec_parse(const struct simvm *vm, struct json_object *proc,
	       struct simvm_spec *s, char **err)
{
	struct json_object *v;
	const char *path_env;

	*s = (struct simvm_spec){ .id = "" };
	*err = NULL;
	if (vm->opt.strict_keys && spec_check_keys(proc, "process", process_keys, err) < 0)
		return -1;
	if (json_object_object_get_ex(proc, "id", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string))
			return fail(err, "process.id must be a string");
		s->id = json_object_get_string(v);
		if (strlen(s->id) > SIMVM_ID_MAX)
			return fail(err, "process.id longer than %d bytes", SIMVM_ID_MAX);
	}
	if (json_object_object_get_ex(proc, "terminal", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_boolean))
			return fail(err, "process.terminal must be a boolean");
		s->terminal = json_object_get_boolean(v);
	}
	if (get_seq(proc, "stdio", &s->seq_out, err) < 0 ||
	    get_seq(proc, "stderr", &s->seq_err, err) < 0)
		return -1;
	if (!s->terminal && s->seq_out && s->seq_out == s->seq_err)
		return fail(err, "process.stdio and process.stderr are both %llu",
			    (unsigned long long)s->seq_out);
	if (json_object_object_get_ex(proc, "workdir", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string))
			return fail(err, "process.workdir must be a string");
		s->workdir = json_object_get_string(v);
		if (!*s->workdir)
			s->workdir = NULL;
	}
	if (parse_args(proc, s, err) < 0 || parse_envs(proc, s, &path_env, err) < 0)
		return -1;
	if (strchr(s->argv[0], '/')) {
		/* Relative to workdir, which the child enters first. */
		s->path = strdup(s->argv[0]);
		if (!s->path)
			return fail(err, "out of memory");
	} else if (search_path(s->argv[0], path_env, &s->path) < 0) {
		return fail(err, "out of memory");
	}
	return 0;
}

void spec_free(struct simvm_spec *s)
{
	if (s->envp)
		for (char **e = s->envp; *e; e++)
			free(*e);
	free(s->envp);
	free(s->argv);
	free(s->path);
	*s = (struct simvm_spec){ .id = "" };
}
