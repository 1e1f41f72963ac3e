/*
 * nft_elems.c — prefixes as set keys, the blocked sets' elements (added
 * and deleted in one batch, 512 kernel elements per message) and the
 * listing that reads them back into prefixes.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>

#include "nft.h"
#include "nft_int.h"

/* --- prefixes as set keys ---------------------------------------------- */

/*
 * The kernel's interval sets are walked as numbers: a prefix is the range
 * [key, key | host mask].  Families are the prefix type's, 4 or 6.
 */
nft_u128
nft_key_get(int family, const uint8_t *addr)
{
	nft_u128 k = 0;
	unsigned int i, n = cidr_width((unsigned)family) / 8;

	for (i = 0; i < n; i++)
		k = (k << 8) | addr[i];
	return k;
}

void
nft_key_put(int family, nft_u128 k, uint8_t *addr)
{
	unsigned int i, n = cidr_width((unsigned)family) / 8;

	for (i = n; i > 0; i--) {
		addr[i - 1] = (uint8_t)(k & 0xff);
		k >>= 8;
	}
}

/* Largest key of the family: 2^width - 1. */
nft_u128
nft_key_max(int family)
{
	if (family == 4)
		return (nft_u128)UINT32_MAX;
	return ~(nft_u128)0;
}

/* Mask of the host bits of a prefix of length p. */
nft_u128
nft_host_mask(int family, unsigned int p)
{
	unsigned int host = cidr_width((unsigned)family) - p;

	if (host == 0)
		return 0;
	if (host >= 128)
		return ~(nft_u128)0;
	return ((nft_u128)1 << host) - 1;
}

/* --- set references -------------------------------------------------- */

/* A set named by table and name only, as element messages carry it. */
struct nftnl_set *
nft_set_ref(const char *setname)
{
	struct nftnl_set *s;

	if ((s = nftnl_set_alloc()) == NULL)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, setname) < 0) {
		nftnl_set_free(s);
		return NULL;
	}
	return s;
}

/* Put *s's elements (none: a flush, for a delete) into one message of
 * the batch; *s is freed either way. */
int
nft_elems_msg(struct nft_ctx *ctx, struct nft_batch *b, uint16_t type,
    struct nftnl_set **s, const char *what)
{
	struct nlmsghdr *nlh;

	nlh = nft_batch_msg(ctx, b, type, type == NFT_MSG_NEWSETELEM ?
	    NLM_F_CREATE : 0, what);
	if (nlh != NULL) {
		nftnl_set_elems_nlmsg_build_payload(nlh, *s);
		nft_batch_push(b, nlh);
	}
	nftnl_set_free(*s);
	*s = NULL;
	return nlh != NULL ? 0 : -1;
}

/* --- set elements ---------------------------------------------------- */

/*
 * An interval set holds a prefix as two elements: its first address, and
 * the first address after it flagged INTERVAL_END.  A prefix reaching the
 * top of the address space has no end element; nft(8) marks such a start
 * with userdata, which we add too so `nft list` prints it right.
 */
static size_t
nft_block_kelems(const struct nft_block *v, struct nft_kelem ke[2])
{
	int family = v->pfx.net.family;
	nft_u128 start = nft_key_get(family, v->pfx.net.bytes);
	nft_u128 last = start | nft_host_mask(family, v->pfx.prefix);

	memset(ke, 0, 2 * sizeof(*ke));
	ke[0].key = start;
	ke[0].timeout_ms = v->timeout_ms;
	if (last == nft_key_max(family)) {
		ke[0].open = 1;
		return 1;
	}
	ke[1].key = last + 1;
	ke[1].end = 1;
	return 2;
}

struct nftnl_set_elem *
nft_elem_new(int family, const struct nft_kelem *k, int with_timeout)
{
	static const uint8_t open_udata[] = {
		NFT_UDATA_ELEM_FLAGS, 4, NFT_UDATA_INTERVAL_OPEN, 0, 0, 0
	};
	struct nftnl_set_elem *e;
	uint8_t addr[16];

	if ((e = nftnl_set_elem_alloc()) == NULL)
		return NULL;
	nft_key_put(family, k->key, addr);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, addr,
	    cidr_width((unsigned)family) / 8);
	if (k->end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS,
		    NFT_SET_ELEM_INTERVAL_END);
	if (with_timeout && !k->end && k->timeout_ms != 0)
		nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, k->timeout_ms);
	if (with_timeout && k->open)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, open_udata,
		    sizeof(open_udata));
	return e;
}

/*
 * Build the element messages for one family: v[] filtered by family,
 * NFT_ELEMS_PER_MSG kernel elements per message (a prefix's two elements
 * always in the same message).
 */
static int
nft_build_elems(struct nft_ctx *ctx, struct nft_batch *b, uint16_t type,
    int family, const struct nft_block *v, size_t n)
{
	const char *setname = family == 4 ? NFT_SET4 : NFT_SET6;
	struct nftnl_set *s = NULL;
	struct nft_kelem ke[2];
	size_t i, j, k, first = 0, inmsg = 0;
	char what[96], a[64];

	for (i = 0; i <= n; i++) {
		if (i < n && v[i].pfx.net.family != family)
			continue;
		if (s != NULL && (i == n || inmsg + 2 > NFT_ELEMS_PER_MSG)) {
			snprintf(what, sizeof(what), "%s elements %zu..%zu "
			    "(first %s) %s %s",
			    type == NFT_MSG_NEWSETELEM ? "add" : "delete",
			    first, i - 1, cidr_str(&v[first].pfx, a,
			    sizeof(a)), type == NFT_MSG_NEWSETELEM ? "to" :
			    "from", setname);
			if (nft_elems_msg(ctx, b, type, &s, what) == -1)
				goto fail;
			inmsg = 0;
		}
		if (i == n)
			break;
		if (s == NULL) {
			if ((s = nft_set_ref(setname)) == NULL)
				goto fail;
			first = i;
		}
		k = nft_block_kelems(&v[i], ke);
		for (j = 0; j < k; j++) {
			struct nftnl_set_elem *e = nft_elem_new(family, &ke[j],
			    type == NFT_MSG_NEWSETELEM);

			if (e == NULL)
				goto fail;
			nftnl_set_elem_add(s, e);
		}
		inmsg += k;
	}
	return 0;
fail:
	if (s != NULL)
		nftnl_set_free(s);
	errno = errno == 0 ? ENOMEM : errno;
	return -1;
}

static int
nft_elems(struct nft_ctx *ctx, uint16_t type, const struct nft_block *v,
    size_t n, char *err, size_t errlen)
{
	const char *op = type == NFT_MSG_NEWSETELEM ? "nft_block_add" :
	    "nft_block_del";
	struct nft_batch b;
	char a[64];
	size_t i;
	int e;

	for (i = 0; i < n; i++) {
		if (!cidr_valid(&v[i].pfx)) {
			nft_err(err, errlen, "%s: element %zu: bad prefix %s "
			    "(family %d, host bits set or length out of range)",
			    op, i, cidr_str(&v[i].pfx, a, sizeof(a)),
			    v[i].pfx.net.family);
			errno = EINVAL;
			return -1;
		}
	}
	if (n == 0)
		return 0;
	if (nft_batch_begin(ctx, &b) == -1 ||
	    nft_build_elems(ctx, &b, type, 4, v, n) == -1 ||
	    nft_build_elems(ctx, &b, type, 6, v, n) == -1) {
		e = errno;
		nft_err(err, errlen, "%s: build batch of %zu: %s", op, n,
		    strerror(e));
		nft_batch_free(&b);
		errno = e;
		return -1;
	}
	return nft_batch_send_free(ctx, &b, err, errlen);
}

int
nft_block_add(struct nft_ctx *ctx, const struct nft_block *v, size_t n,
    char *err, size_t errlen)
{
	return nft_elems(ctx, NFT_MSG_NEWSETELEM, v, n, err, errlen);
}

int
nft_block_del(struct nft_ctx *ctx, const struct nft_block *v, size_t n,
    char *err, size_t errlen)
{
	return nft_elems(ctx, NFT_MSG_DELSETELEM, v, n, err, errlen);
}

/* --- listing --------------------------------------------------------- */

struct nft_list {
	struct nft_dump_state st;
	int		 family;
	const char	*setname;
	struct nft_kelem *v;
	size_t		 n;
	size_t		 cap;
};

static int
nft_list_elem(struct nftnl_set_elem *e, void *data)
{
	struct nft_list *l = data;
	struct nft_kelem *k, *nv;
	const void *key;
	uint32_t klen = 0;
	size_t ncap;

	key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	if (key == NULL || klen != cidr_width((unsigned)l->family) / 8)
		return 0;	/* not ours to interpret */
	if (l->n == l->cap) {
		if (l->cap >= NFT_LIST_MAX) {
			l->st.cb_errno = E2BIG;
			return -1;
		}
		ncap = l->cap == 0 ? 1024 : l->cap * 2;
		if ((nv = reallocarray(l->v, ncap, sizeof(*nv))) == NULL) {
			l->st.cb_errno = ENOMEM;
			return -1;
		}
		l->v = nv;
		l->cap = ncap;
	}
	k = &l->v[l->n++];
	memset(k, 0, sizeof(*k));
	k->key = nft_key_get(l->family, key);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
		k->end = (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
		    NFT_SET_ELEM_INTERVAL_END) != 0;
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT))
		k->timeout_ms = nftnl_set_elem_get_u64(e,
		    NFTNL_SET_ELEM_TIMEOUT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
		k->expires_ms = nftnl_set_elem_get_u64(e,
		    NFTNL_SET_ELEM_EXPIRATION);
	return 0;
}

static int
nft_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_list *l = data;
	struct nftnl_set *s;
	int ret = MNL_CB_OK;

	if ((s = nftnl_set_alloc()) == NULL) {
		l->st.cb_errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		l->st.cb_errno = EPROTO;
		ret = MNL_CB_ERROR;
	} else if (nftnl_set_elem_foreach(s, nft_list_elem, l) < 0)
		ret = MNL_CB_ERROR;
	nftnl_set_free(s);
	return ret;
}

static struct nlmsghdr *
nft_list_req(struct nft_ctx *ctx, char *buf, void *arg)
{
	struct nft_list *l = arg;
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	if ((s = nftnl_set_alloc()) == NULL)
		return NULL;
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, l->setname) < 0) {
		nftnl_set_free(s);
		return NULL;
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
	    NLM_F_DUMP, ctx->seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh;
}

static void
nft_list_reset(void *arg)
{
	((struct nft_list *)arg)->n = 0;
}

static int
nft_kelem_cmp(const void *a, const void *b)
{
	const struct nft_kelem *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	/* An end element sorts before a start at the same key: the
	 * previous interval ends where the next begins. */
	return y->end - x->end;
}

/* Report [lo, hi] as the fewest prefixes covering exactly that range. */
static int
nft_list_range(int family, nft_u128 lo, nft_u128 hi,
    const struct nft_kelem *start, nft_block_cb cb, void *arg)
{
	struct nft_block blk;
	unsigned int w = cidr_width((unsigned)family), host;
	int ret;

	for (;;) {
		/* Largest aligned block starting at lo that fits. */
		for (host = w; host > 0; host--) {
			nft_u128 mask = nft_host_mask(family, w - host);

			if ((lo & mask) == 0 && (lo | mask) <= hi)
				break;
		}
		memset(&blk, 0, sizeof(blk));
		blk.pfx.net.family = (uint8_t)family;
		blk.pfx.prefix = (uint8_t)(w - host);
		blk.timeout_ms = start->timeout_ms;
		blk.expires_ms = start->expires_ms;
		nft_key_put(family, lo, blk.pfx.net.bytes);
		if ((ret = cb(&blk, arg)) != 0)
			return ret;
		lo |= nft_host_mask(family, w - host);
		if (lo >= hi)
			return 0;
		lo++;
	}
}

static int
nft_list_family(struct nft_ctx *ctx, int family, nft_block_cb cb, void *arg,
    char *err, size_t errlen)
{
	char req[NFT_REQ_SIZE] = { 0 };
	struct nft_list l;
	size_t i;
	int ret = 0, e;

	memset(&l, 0, sizeof(l));
	l.family = family;
	l.setname = family == 4 ? NFT_SET4 : NFT_SET6;
	if (nft_dump_retry(ctx, req, nft_list_req, nft_list_cb, &l, &l.st,
	    nft_list_reset) == -1) {
		e = errno;
		nft_err(err, errlen, "nft_block_list: list set inet %s %s: %s",
		    NFT_TABLE, l.setname, strerror(e));
		free(l.v);
		errno = e;
		return -1;
	}
	/* The kernel dumps in tree order (descending); pair them up. */
	if (l.n > 0)
		qsort(l.v, l.n, sizeof(*l.v), nft_kelem_cmp);
	for (i = 0; i < l.n && ret == 0; i++) {
		nft_u128 hi;

		if (l.v[i].end)
			continue;	/* an end with no start: ignore */
		if (i + 1 < l.n && l.v[i + 1].end) {
			if (l.v[i + 1].key == l.v[i].key)
				continue;	/* empty interval */
			hi = l.v[i + 1].key - 1;
		} else
			hi = nft_key_max(family);
		ret = nft_list_range(family, l.v[i].key, hi, &l.v[i], cb, arg);
	}
	free(l.v);
	return ret;
}

int
nft_block_list(struct nft_ctx *ctx, int family, nft_block_cb cb, void *arg,
    char *err, size_t errlen)
{
	int ret;

	if (family != 4 && family != 6 && family != 0) {
		nft_err(err, errlen, "nft_block_list: family %d", family);
		errno = EINVAL;
		return -1;
	}
	if (family != 6 &&
	    (ret = nft_list_family(ctx, 4, cb, arg, err, errlen)) != 0)
		return ret;
	if (family != 4)
		return nft_list_family(ctx, 6, cb, arg, err, errlen);
	return 0;
}
