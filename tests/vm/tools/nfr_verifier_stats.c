// SPDX-License-Identifier: GPL-2.0
/*
 * Loads every program of a BPF object (the agent's nfr_tc.bpf.o) into the
 * running kernel with verifier statistics on and prints one line per
 * program:
 *
 *   VERIFIER kernel=6.1.0-57-amd64 prog=nfr_ingress insns_processed=1234
 *            verified_insns=1234 total_states=56 peak_states=56 (limit 1000000)
 *
 * so the VM tier shows on each kernel how close the program is to the
 * verifier's complexity limit. Nothing is attached or pinned; the object is
 * unloaded on exit. Exit 1 if a program does not load (its log is printed).
 *
 *   nfr-verifier-stats OBJ
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define LOG_SIZE (1 << 20)

static char *logs[16];

static long after(const char *log, const char *key)
{
	const char *p = log ? strstr(log, key) : NULL;

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct utsname uts;
	int n = 0, err, rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJ\n", argv[0]);
		return 2;
	}
	uname(&uts);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "nfr-verifier-stats: cannot open %s\n", argv[1]);
		return 2;
	}
	bpf_object__for_each_program(prog, obj) {
		if (n == 16)
			break;
		logs[n] = calloc(1, LOG_SIZE);
		/* 1 | 4: the verbose log on failure, the stats line always */
		bpf_program__set_log_buf(prog, logs[n], LOG_SIZE);
		bpf_program__set_log_level(prog, 4);
		n++;
	}
	err = bpf_object__load(obj);
	n = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		const char *log = n < 16 ? logs[n++] : NULL;
		long processed = after(log, "processed ");
		int fd = bpf_program__fd(prog);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
			printf("VERIFIER kernel=%s prog=%s load failed: %s\n", uts.release,
			       bpf_program__name(prog), log && *log ? log : "(no log)");
			rc = 1;
			continue;
		}
		printf("VERIFIER kernel=%s prog=%s insns_processed=%ld verified_insns=%u "
		       "total_states=%ld peak_states=%ld insns=%u (limit 1000000)\n",
		       uts.release, bpf_program__name(prog), processed, info.verified_insns,
		       after(log, "total_states "), after(log, "peak_states "),
		       info.xlated_prog_len / 8);
	}
	if (err && !rc) {
		printf("VERIFIER kernel=%s object load failed: %s\n", uts.release, strerror(-err));
		rc = 1;
	}
	bpf_object__close(obj);
	return rc;
}
