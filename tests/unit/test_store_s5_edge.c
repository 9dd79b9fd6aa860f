/* Tests for the S5 backend against peers nginx will not imitate on demand: nobody listening, a
 * silent listener, and tiny scripted servers (parallelism bound, cut bodies, ignored ranges). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "vchunk/store.h"

static int group_setup(void **state)
{
	(void)state;
	unsetenv("VCHUNK_FAULT");
	return 0;
}

/* A socket listening on 127.0.0.1 at a port the kernel picks; *@p port is that port. */
static int listen_loopback(int backlog, int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* An S5 store for session "s" at http://127.0.0.1:@p port. */
static vc_store *open_port(int port, const vc_store_options *o)
{
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	return vc_test_open_s5(url, "s", o);
}

/* Read one request's head from @p c (at most 5 s per read) into @p buf, NUL-terminated. */
static void read_request(int c, char *buf, size_t size)
{
	struct timeval tv = {.tv_sec = 5};
	size_t used = 0;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	buf[0] = '\0';
	while (used < size - 1) {
		ssize_t n = read(c, buf + used, size - 1 - used);

		if (n <= 0)
			break;
		used += (size_t)n;
		buf[used] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			break;
	}
}

/* A port nobody listens on: bind, note the port, close. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_connection_refused(void **state)
{
	vc_store_options o = {.retries = 2, .retry_base_ms = 10, .connect_timeout_ms = 1000};
	vc_store *store;
	vc_store_stats stats;
	vc_bytes out = {0};
	uint64_t start;

	(void)state;
	store = open_port(closed_port(), &o);
	start = vc_test_now_ms();
	assert_int_equal(vc_store_health(store), VC_ERR_UNAVAILABLE);
	assert_int_equal(vc_store_get(store, "x", &out), VC_ERR_UNAVAILABLE);
	assert_non_null(strstr(vc_last_error(), "/s5/fs/s/x"));
	/* Bounded: refused connections fail fast, nothing waits for a timeout. */
	assert_true(vc_test_now_ms() - start < 5000);
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.retries, 4);
	vc_store_close(store);
}

/* A peer that completes the TCP handshake (the kernel does, from the backlog) and never answers. */
static void test_silent_server_times_out(void **state)
{
	vc_store_options o = {.retries = -1, .timeout_ms = 300};
	vc_bytes out = {0};
	vc_store *store;
	uint64_t start;
	uint64_t took;
	int port;
	int fd;

	(void)state;
	fd = listen_loopback(16, &port);
	store = open_port(port, &o);
	start = vc_test_now_ms();
	assert_int_equal(vc_store_get(store, "x", &out), VC_ERR_TIMEOUT);
	took = vc_test_now_ms() - start;
	assert_non_null(strstr(vc_last_error(), "300 ms"));
	assert_true(took >= 250);  /* it did wait for the answer... */
	assert_true(took < 10000); /* ...and did not hang */
	vc_store_close(store);
	close(fd);
}

/* A one-connection-per-response HTTP server playing scripted answers, for peer misbehaviour
 * nginx will not produce on demand (cut bodies, ignored ranges, wrong Content-Range). */
typedef struct scripted {
	int fd;
	int port;
	const char *const *responses;
	size_t count;
	char first_request[1024];
	pthread_t thread;
} scripted;

static void *serve(void *arg)
{
	scripted *s = arg;
	size_t i;

	for (i = 0; i < s->count; i++) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		char buf[1024];
		int c;

		if (poll(&pfd, 1, 5000) != 1)
			break;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			break;
		read_request(c, buf, sizeof(buf));
		if (i == 0)
			snprintf(s->first_request, sizeof(s->first_request), "%s", buf);
		if (write(c, s->responses[i], strlen(s->responses[i])) < 0)
			perror("scripted server write");
		close(c);
	}
	return NULL;
}

static void scripted_start(scripted *s, const char *const *responses, size_t count)
{
	memset(s, 0, sizeof(*s));
	s->responses = responses;
	s->count = count;
	s->fd = listen_loopback(16, &s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void scripted_stop(scripted *s)
{
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* Answers requests only once no new connection arrived for 500 ms, so the largest number of
 * connections open at once is exactly the client's parallelism. */
typedef struct gathering {
	int fd;
	int port;
	int total;
	int most_open;
	pthread_t thread;
} gathering;

static void answer(int c)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				    "Connection: close\r\n\r\nok";
	char buf[1024];

	read_request(c, buf, sizeof(buf));
	if (write(c, reply, sizeof(reply) - 1) < 0)
		perror("gathering server write");
	close(c);
}

static void *gather(void *arg)
{
	gathering *g = arg;
	int open_fds[64];
	int served = 0;
	int open = 0;
	int rounds = 0;

	while (served < g->total && rounds++ < 200) {
		struct pollfd pfd = {.fd = g->fd, .events = POLLIN};

		if (poll(&pfd, 1, 500) == 1 && open < 64) {
			int c = accept(g->fd, NULL, NULL);

			if (c >= 0)
				open_fds[open++] = c;
			if (open > g->most_open)
				g->most_open = open;
			continue;
		}
		while (open > 0) {
			answer(open_fds[--open]);
			served++;
		}
	}
	return NULL;
}

static void test_get_many_parallelism(void **state)
{
	vc_store_options o = {.parallel = 3};
	const char *paths[9] = {"0", "1", "2", "3", "4", "5", "6", "7", "8"};
	gathering g = {.total = 9};
	vc_bytes outs[9];
	vc_err errors[9];
	vc_store *store;
	int i;

	(void)state;
	g.fd = listen_loopback(64, &g.port);
	assert_int_equal(pthread_create(&g.thread, NULL, gather, &g), 0);
	store = open_port(g.port, &o);
	assert_int_equal(vc_store_get_many(store, 9, paths, outs, errors), VC_OK);
	for (i = 0; i < 9; i++) {
		assert_int_equal(errors[i], VC_OK);
		vc_test_assert_bytes(&outs[i], "ok", 2);
		vc_bytes_free(&outs[i]);
	}
	vc_store_close(store);
	pthread_join(g.thread, NULL);
	close(g.fd);
	/* Really parallel, and never more than asked for. */
	assert_int_equal(g.most_open, 3);
}

#define CUT "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234"
#define FULL "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789"

static void test_truncated_body_retried(void **state)
{
	static const char *const cut_then_full[] = {CUT, FULL};
	static const char *const always_cut[] = {CUT, CUT, CUT};
	vc_store_options o = {.retries = 2, .retry_base_ms = 5};
	vc_store_stats stats;
	vc_bytes out = {0};
	vc_store *store;
	scripted s;

	(void)state;
	scripted_start(&s, cut_then_full, 2);
	store = open_port(s.port, &o);
	assert_int_equal(vc_store_get(store, "x", &out), VC_OK);
	vc_test_assert_bytes(&out, "0123456789", 10);
	vc_bytes_free(&out);
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.retries, 1);
	vc_store_close(store);
	scripted_stop(&s);

	scripted_start(&s, always_cut, 3);
	store = open_port(s.port, &o);
	assert_int_equal(vc_store_get(store, "x", &out), VC_ERR_UNAVAILABLE);
	assert_null(out.data);
	assert_non_null(strstr(vc_last_error(), "after 3 tries"));
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.retries, 2);
	vc_store_close(store);
	scripted_stop(&s);
}

static void test_range_ignored_by_server(void **state)
{
	static const char *const full[] = {FULL};
	static const char *const wrong_range[] = {
	    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-3/10\r\n"
	    "Content-Length: 4\r\nConnection: close\r\n\r\n0123"};
	vc_bytes out = {0};
	vc_store *store;
	scripted s;

	(void)state;
	/* A server may answer a range request with the whole object: the store slices it. */
	scripted_start(&s, full, 1);
	store = open_port(s.port, NULL);
	assert_int_equal(vc_store_get_range(store, "x", 3, 4, &out), VC_OK);
	vc_test_assert_bytes(&out, "3456", 4);
	vc_bytes_free(&out);
	vc_store_close(store);
	scripted_stop(&s);
	assert_non_null(strcasestr(s.first_request, "Range: bytes=3-6"));

	/* A 206 for other bytes than asked is refused, not returned. */
	scripted_start(&s, wrong_range, 1);
	store = open_port(s.port, NULL);
	assert_int_equal(vc_store_get_range(store, "x", 3, 4, &out), VC_ERR_CORRUPT);
	vc_store_close(store);
	scripted_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_many_parallelism),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_silent_server_times_out),
	    cmocka_unit_test(test_truncated_body_retried),
	    cmocka_unit_test(test_range_ignored_by_server),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
