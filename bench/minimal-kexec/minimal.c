/*
 * minimal-kexec: the reference "minimal tool" of the hopboot benchmark (docs/bench.md).
 *
 * Run as PID 1 from an initramfs, it does only what a boot loader must:
 *   1. mounts /proc, /sys and /dev (devtmpfs);
 *   2. loads the kernel modules listed in /modules.list (one path per line, dependencies
 *      first) with finit_module(2);
 *   3. waits for /dev/vda1 (10 ms polls, 20 s at most);
 *   4. mounts it read-only as ext4 on /mnt;
 *   5. reads /boot/grub/grub.cfg and takes the first `linux` and `initrd` lines of the first
 *      menuentry (no GRUB scripting: no variables, quoting, conditions, `default`, submenus);
 *   6. kexec_file_load(2)s that kernel and initrd with the command line GRUB would pass,
 *      "BOOT_IMAGE=<kernel path as written> <arguments>", and reboots into it.
 *
 * Progress goes to /dev/kmsg (so it carries the kernel's timestamps), one short line per step,
 * ending in "(stage=NAME t=Nms)", t counted from the start of main. On any failure it prints
 * what failed and sleeps forever: PID 1 must not exit.
 *
 * Build: gcc -static -O2 -s -Wall -Wextra -o minimal-kexec minimal.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DISK "/dev/vda1"
#define MNT "/mnt"
#define GRUB_CFG MNT "/boot/grub/grub.cfg"
#define MODULES_LIST "/modules.list"
#define WAIT_POLL_MS 10
#define WAIT_MAX_MS 20000

#ifndef KEXEC_FILE_NO_INITRAMFS
#define KEXEC_FILE_NO_INITRAMFS 0x00000004
#endif

static struct timespec start;
static int kmsg = -1;

static long ms_since_start(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
}

/* One line to /dev/kmsg, or to the console when kmsg is not open. */
static void say(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "minimal-kexec: ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	if (kmsg < 0 || write(kmsg, line, strlen(line)) < 0)
		fputs(line, stderr);
}

static void stage(const char *name, const char *what)
{
	say("%s (stage=%s t=%ldms)", what, name, ms_since_start());
}

static void __attribute__((noreturn)) fail(const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	say("FAILED: %s", msg);
	if (kmsg >= 0) /* also on the console itself, in case kmsg lines are filtered */
		fprintf(stderr, "minimal-kexec: FAILED: %s\n", msg);
	for (;;)
		pause();
}

static void mount_or_fail(const char *src, const char *dir, const char *type, unsigned long flags,
			  const char *data)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, flags, data) < 0 && errno != EBUSY)
		fail("mount %s on %s (%s): %s", src, dir, type, strerror(errno));
}

/* The whole file, NUL-terminated. */
static char *read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail("stat %s: %s", path, strerror(errno));
	char *buf = malloc(st.st_size + 1);
	if (!buf)
		fail("%s: out of memory", path);
	size_t len = 0;
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		len += r;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

static int load_modules(void)
{
	char *list = read_file(MODULES_LIST);
	int count = 0;
	for (char *save, *path = strtok_r(list, "\n", &save); path; path = strtok_r(NULL, "\n", &save)) {
		if (path[0] == '\0' || path[0] == '#')
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail("open %s: %s", path, strerror(errno));
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			fail("finit_module %s: %s", path, strerror(errno));
		close(fd);
		count++;
	}
	free(list);
	return count;
}

static void wait_for(const char *path)
{
	struct stat st;
	for (int waited = 0; stat(path, &st) < 0; waited += WAIT_POLL_MS) {
		if (waited >= WAIT_MAX_MS)
			fail("%s did not appear in %d ms", path, WAIT_MAX_MS);
		struct timespec d = {0, WAIT_POLL_MS * 1000000L};
		nanosleep(&d, NULL);
	}
}

/* The first whitespace-separated word of `line` and, in *rest, what follows it. */
static char *first_word(char *line, char **rest)
{
	line += strspn(line, " \t\r");
	if (*line == '\0') {
		*rest = line;
		return line;
	}
	char *end = line + strcspn(line, " \t\r");
	if (*end != '\0')
		*end++ = '\0';
	*rest = end + strspn(end, " \t\r");
	return line;
}

struct entry {
	char *kernel;  /* path as written in grub.cfg */
	char *args;    /* the rest of the linux line */
	char *initrd;  /* first path of the initrd line, or NULL */
};

/* The first `linux` and `initrd` lines inside the first menuentry of `cfg` (modified in place). */
static struct entry first_entry(char *cfg)
{
	struct entry e = {0};
	int in_entry = 0;
	for (char *save, *line = strtok_r(cfg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *rest;
		char *word = first_word(line, &rest);
		if (!in_entry) {
			in_entry = strcmp(word, "menuentry") == 0;
			continue;
		}
		if (strcmp(word, "}") == 0 || strcmp(word, "menuentry") == 0)
			break;
		if (strcmp(word, "linux") == 0 && !e.kernel) {
			e.kernel = first_word(rest, &e.args);
		} else if (strcmp(word, "initrd") == 0 && !e.initrd) {
			char *more;
			e.initrd = first_word(rest, &more);
		}
	}
	if (!e.kernel || !*e.kernel)
		fail("%s: no `linux` line in the first menuentry", GRUB_CFG);
	return e;
}

/* "BOOT_IMAGE=<kernel> arg1 arg2 ...", the arguments joined by single spaces, as GRUB does. */
static char *grub_cmdline(const struct entry *e)
{
	size_t size = strlen("BOOT_IMAGE=") + strlen(e->kernel) + strlen(e->args) + 2;
	char *cmdline = malloc(size);
	if (!cmdline)
		fail("out of memory");
	char *p = cmdline + sprintf(cmdline, "BOOT_IMAGE=%s", e->kernel);
	char *args = strdup(e->args);
	for (char *save, *w = strtok_r(args, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save))
		p += sprintf(p, " %s", w);
	free(args);
	return cmdline;
}

static int open_on_disk(const char *path)
{
	char full[4096];
	snprintf(full, sizeof full, "%s%s", MNT, path);
	int fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open %s: %s", full, strerror(errno));
	return fd;
}

int main(void)
{
	clock_gettime(CLOCK_MONOTONIC, &start);
	mount_or_fail("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_fail("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_fail("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	stage("start", "started as PID 1");

	char what[64];
	snprintf(what, sizeof what, "loaded %d modules", load_modules());
	stage("modules", what);

	wait_for(DISK);
	stage("disk", DISK " is there");

	mount_or_fail(DISK, MNT, "ext4", MS_RDONLY, "noload");
	char *cfg = read_file(GRUB_CFG);
	struct entry e = first_entry(cfg);
	char *cmdline = grub_cmdline(&e);
	say("booting %s initrd %s: %s", e.kernel, e.initrd ? e.initrd : "(none)", cmdline);
	stage("entry", "entry read");

	int kernel_fd = open_on_disk(e.kernel);
	int initrd_fd = e.initrd ? open_on_disk(e.initrd) : -1;
	unsigned long flags = e.initrd ? 0 : KEXEC_FILE_NO_INITRAMFS;
	if (syscall(SYS_kexec_file_load, kernel_fd, initrd_fd, strlen(cmdline) + 1, cmdline, flags) < 0)
		fail("kexec_file_load %s: %s", e.kernel, strerror(errno));
	close(kernel_fd);
	if (initrd_fd >= 0)
		close(initrd_fd);
	stage("kexec_loaded", "kernel loaded");

	umount(MNT);
	reboot(LINUX_REBOOT_CMD_KEXEC);
	fail("reboot(LINUX_REBOOT_CMD_KEXEC): %s", strerror(errno));
}
