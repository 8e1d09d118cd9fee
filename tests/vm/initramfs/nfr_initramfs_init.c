// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the small initramfs that boots Debian's stock kernels in the VM
 * tier (tests/vm/fetch-kernel.sh builds it): loads the virtio/9p modules
 * listed in /modules/load (dependencies first, uncompressed), mounts the
 * host root (9p tag /dev/root, read-only) and execs the "nfr.init=" program
 * of the kernel command line on it. Statically linked; no shell needed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ROOT_OPTS "trans=virtio,version=9p2000.L,msize=262144,cache=loose"

static void fail(const char *what)
{
	fprintf(stderr, "nfr-initramfs: %s: %s\n", what, strerror(errno));
	fflush(stderr);
	sleep(2);
	/* PID 1 exiting panics the kernel; with panic=-1 qemu -no-reboot ends */
	exit(1);
}

static int load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	if (rc != 0 && errno == EEXIST)
		rc = 0;
	return rc;
}

static void load_modules(void)
{
	char line[512], path[600];
	FILE *f = fopen("/modules/load", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		snprintf(path, sizeof(path), "/modules/%s", line);
		if (load_module(path) != 0)
			fprintf(stderr, "nfr-initramfs: loading %s: %s\n", line,
				strerror(errno));
	}
	fclose(f);
}

/* value of "key=" on the kernel command line, or NULL */
static char *cmdline_value(const char *key)
{
	static char buf[4096];
	size_t klen = strlen(key);
	char *tok, *save = NULL;
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f || !fgets(buf, sizeof(buf), f))
		fail("reading /proc/cmdline");
	fclose(f);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strncmp(tok, key, klen) && tok[klen] == '=')
			return tok + klen + 1;
	return NULL;
}

int main(void)
{
	char *init;
	int fd, i;

	mkdir("/dev", 0755);
	mkdir("/proc", 0555);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) == 0) {
		fd = open("/dev/console", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	if (mount("proc", "/proc", "proc", 0, NULL) != 0)
		fail("mounting /proc");
	init = cmdline_value("nfr.init");
	if (!init)
		init = "/sbin/init";
	load_modules();

	mkdir("/newroot", 0755);
	for (i = 0; mount("/dev/root", "/newroot", "9p", MS_RDONLY, ROOT_OPTS) != 0; i++) {
		if (i == 50)
			fail("mounting the 9p root (tag /dev/root)");
		usleep(100000);
	}
	umount2("/proc", MNT_DETACH);
	umount2("/dev", MNT_DETACH);
	if (chdir("/newroot") != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 ||
	    chroot(".") != 0 || chdir("/") != 0)
		fail("switching to the 9p root");
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	execl(init, init, (char *)NULL);
	fail(init);
	return 1;
}
