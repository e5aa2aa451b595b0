/*
 * ovpnd-info: asks the ovpn-ts daemon of this network namespace about itself (op daemon-info) and
 * prints its JSON reply. The smallest possible ovpnd client, in plain C: one SOCK_SEQPACKET message
 * out, one in. Needs root (the daemon serves root only) and a running daemon.
 *
 *   gcc -O2 -Wall -Wextra -o ovpnd-info examples/c/ovpnd-info.c
 *   sudo ip netns exec NS ./ovpnd-info
 *   {"seq":1,"reply":{"pid":1234,"netns":"NS","devices":1,"clients":1,"dropped-events":0}}
 *
 * Exit status 0 on a reply, 1 on an error reply or a failed system call (errno name on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define OVPND_SOCKET "ovpn-ts/ovpnd" /* abstract: sun_path starts with a NUL byte */
#define MAX_MESSAGE (256 * 1024)

static char reply[MAX_MESSAGE + 1];

static int fail(const char *what)
{
	fprintf(stderr, "ovpnd-info: %s: %s (%s)\n", what, strerrorname_np(errno), strerror(errno));
	return 1;
}

int main(void)
{
	const char req[] = "{\"op\": \"daemon-info\", \"seq\": 1}";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(OVPND_SOCKET);
	ssize_t n;
	int fd;

	memcpy(addr.sun_path + 1, OVPND_SOCKET, strlen(OVPND_SOCKET));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket");
	/* ECONNREFUSED: no daemon runs in this network namespace. */
	if (connect(fd, (struct sockaddr *)&addr, len) < 0)
		return fail("connect @" OVPND_SOCKET);
	/* Any user can bind an abstract name: talk only to a daemon run by root. */
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		return fail("SO_PEERCRED");
	if (cred.uid != 0) {
		fprintf(stderr, "ovpnd-info: the socket belongs to uid %u (pid %d), not root\n",
			(unsigned)cred.uid, (int)cred.pid);
		return 1;
	}
	if (send(fd, req, strlen(req), 0) < 0)
		return fail("send");
	n = recv(fd, reply, MAX_MESSAGE, 0); /* one message: one whole JSON object */
	if (n < 0)
		return fail("recv");
	close(fd);
	if (n == 0) {
		fprintf(stderr, "ovpnd-info: the daemon closed the connection\n");
		return 1;
	}
	reply[n] = '\0';
	/* {"seq":1,"reply":{...}} or {"seq":1,"error":{"code":"EPERM","errno":1,"msg":...}} */
	if (strstr(reply, "\"error\":") != NULL) {
		fprintf(stderr, "ovpnd-info: refused: %s\n", reply);
		return 1;
	}
	printf("%s\n", reply);
	return 0;
}
