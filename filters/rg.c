/*
 * rg.c — addresses, the memory budget and byte buffers shared by the
 * pipeline.  inet_ntop/inet_pton are pure library functions (no system
 * call), so they are fine here.
 */
#include <sys/mman.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "rg.h"

const char *
rg_addr_str(const struct rg_addr *a, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (a->family == 4) {
		if (inet_ntop(AF_INET, a->bytes, buf, (socklen_t)len) != NULL)
			return buf;
	} else if (a->family == 6) {
		if (inet_ntop(AF_INET6, a->bytes, buf, (socklen_t)len) != NULL)
			return buf;
	}
	buf[0] = '\0';
	return buf;
}

bool
rg_addr_parse(const char *s, size_t len, struct rg_addr *out)
{
	char tmp[RG_ADDRSTRLEN + 1];

	/* A NUL inside would end the C string early: "192.0.2.1\0junk". */
	if (len == 0 || len >= sizeof(tmp) || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (memchr(tmp, ':', len) != NULL) {
		if (inet_pton(AF_INET6, tmp, out->bytes) != 1)
			return false;
		out->family = 6;
	} else {
		if (inet_pton(AF_INET, tmp, out->bytes) != 1)
			return false;
		out->family = 4;
	}
	return true;
}

bool
rg_addr_eq(const struct rg_addr *a, const struct rg_addr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->bytes, b->bytes, a->family == 4 ? 4 : 16) == 0;
}

bool
rg_mem_charge(struct rg_mem *m, size_t n)
{
	if (n > m->cap || m->used > m->cap - n) {
		m->refused++;
		return false;
	}
	m->used += n;
	if (m->used > m->peak)
		m->peak = m->used;
	return true;
}

void
rg_mem_release(struct rg_mem *m, size_t n)
{
	/* Releasing more than was charged is a bug; clamp rather than wrap. */
	m->used = n > m->used ? 0 : m->used - n;
}

void
rg_mem_pool(struct rg_mem *m)
{
	m->pooling = true;
}

/* The class of an n-byte block, or -1 if n is not one a class holds. */
static int
rg_pool_class(size_t n)
{
	int c;

	if (n < 64 || n > ((size_t)64 << (RG_POOL_CLASSES - 1)) ||
	    (n & (n - 1)) != 0)
		return -1;
	for (c = 0; ((size_t)64 << c) != n; c++)
		;
	return c;
}

struct rg_region {
	struct rg_region *next;
};

/* The header rounded to a cache line: pieces start aligned. */
#define RG_REGION_HDR 64

void *
rg_region_carve(struct rg_regions *r, size_t n)
{
	struct rg_region *g;
	void *mem;

	if (n > RG_REGION - RG_REGION_HDR)
		return NULL;
	if (r->newest == NULL || RG_REGION - r->used < n) {
		if (posix_memalign(&mem, RG_REGION, RG_REGION) != 0)
			return NULL;
		(void)madvise(mem, RG_REGION, MADV_HUGEPAGE);
		g = mem;
		g->next = r->newest;
		r->newest = g;
		r->used = RG_REGION_HDR;
	}
	mem = (uint8_t *)r->newest + r->used;
	r->used += n;
	return mem;
}

void
rg_regions_free(struct rg_regions *r)
{
	struct rg_region *g;

	while ((g = r->newest) != NULL) {
		r->newest = g->next;
		free(g);
	}
	r->used = 0;
}

void
rg_mem_arena(struct rg_mem *m)
{
	m->pooling = true;
#if !defined(__SANITIZE_ADDRESS__)
	m->arena = true;
#endif
}

void *
rg_block_alloc(struct rg_mem *m, size_t n)
{
	int c = m->pooling ? rg_pool_class(n) : -1;
	void *p;

	if (c >= 0 && m->pool[c] != NULL) {
		p = m->pool[c];
		memcpy(&m->pool[c], p, sizeof(void *));
		m->pool_bytes -= n;
		m->pool_hits++;
		return p;
	}
	m->pool_misses++;
	if (c >= 0 && m->arena)
		return rg_region_carve(&m->arenas, n);
	return malloc(n);
}

void
rg_block_free(struct rg_mem *m, void *p, size_t n)
{
	int c;

	if (p == NULL)
		return;
	if (!m->pooling || (c = rg_pool_class(n)) < 0 ||
	    (!m->arena && m->pool_bytes + n > RG_POOL_MAX)) {
		free(p);
		return;
	}
	memcpy(p, &m->pool[c], sizeof(void *));
	m->pool[c] = p;
	m->pool_bytes += n;
}

void
rg_mem_pool_drain(struct rg_mem *m)
{
	void *p;
	int c;

	for (c = 0; c < RG_POOL_CLASSES; c++) {
		/* Arena blocks go with their regions, unwalked. */
		while (!m->arena && (p = m->pool[c]) != NULL) {
			memcpy(&m->pool[c], p, sizeof(void *));
			free(p);
		}
		m->pool[c] = NULL;
	}
	m->pool_bytes = 0;
	rg_regions_free(&m->arenas);
}

bool
rg_buf_append(struct rg_buf *b, struct rg_mem *m, const void *p, size_t n,
    size_t limit)
{
	size_t need, ncap;
	uint8_t *nd;

	if (n == 0)
		return true;
	if (limit > UINT32_MAX)
		limit = UINT32_MAX;
	if (n > limit || b->len > limit - n)
		return false;
	need = (size_t)b->len + n;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < need)
			ncap *= 2;
		if (ncap > limit)
			ncap = limit;
		if (!rg_mem_charge(m, ncap - b->cap))
			return false;
		nd = rg_block_alloc(m, ncap);
		if (nd == NULL) {
			rg_mem_release(m, ncap - b->cap);
			return false;
		}
		if (b->len > 0)
			memcpy(nd, b->data, b->len);
		rg_block_free(m, b->data, b->cap);
		b->data = nd;
		b->cap = (uint32_t)ncap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += (uint32_t)n;
	return true;
}

void
rg_buf_consume(struct rg_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= (uint32_t)n;
}

void
rg_buf_free(struct rg_buf *b, struct rg_mem *m)
{
	if (b->data != NULL)
		rg_mem_release(m, b->cap);
	rg_block_free(m, b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}

bool
rg_strncaseeq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rg_lower((unsigned char)a[i]) != rg_lower((unsigned char)b[i]))
			return false;
	return true;
}

const char *
rg_stat_group_name(enum rg_stat_group g)
{
	static const char *const names[RG_STAT__GROUPS] = {
		[RG_STAT_TRAFFIC] = "traffic",
		[RG_STAT_INSPECTION] = "inspection",
		[RG_STAT_NORMALISATION] = "normalisation",
		[RG_STAT_ENFORCEMENT] = "enforcement",
		[RG_STAT_BLOCKS] = "blocks",
		[RG_STAT_QUEUE] = "queue",
		[RG_STAT_EVENTS] = "events",
		[RG_STAT_MEMORY] = "memory",
		[RG_STAT_REPLAY] = "replay",
	};

	return (unsigned)g < RG_STAT__GROUPS ? names[g] : "other";
}
