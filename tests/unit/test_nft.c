/*
 * test_nft.c — daemon/nft_netlink.c's batches without a socket: a batch
 * buffer up to NFT_BATCH_KEEP goes back to the context, zeroed where the
 * batch wrote (its messages, and one started but never pushed), and the
 * next batch takes it; a larger one is freed.  (A block is a batch of one
 * element: without the kept buffer each allocated and zeroed 512 KiB, the
 * first one faulting it in, 6 ms on the bench's machine.)
 */
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>

#include "test.h"

#include "../../daemon/nft_netlink.c"

/* Is every byte of buf[0..n) zero? */
static bool
all_zero(const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] != 0)
			return false;
	return true;
}

/* A message with some payload bytes, pushed or left open. */
static void
put_msg(struct nft_ctx *ctx, struct nft_batch *b, bool push)
{
	struct nlmsghdr *nlh;

	nlh = nft_batch_msg(ctx, b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, "test");
	TEST_CHECK(nlh != NULL);
	if (nlh == NULL)
		return;
	mnl_attr_put_strz(nlh, 1, "relayguard-relayguard-relayguard");
	mnl_attr_put_u32(nlh, 2, 0xdeadbeef);
	if (push)
		nft_batch_push(b, nlh);
}

static void
test_batch_kept(void)
{
	struct nft_ctx ctx;
	struct nft_batch b;
	char *first;
	size_t cap;

	memset(&ctx, 0, sizeof(ctx));
	TEST_CHECK(nft_batch_begin(&ctx, &b) == 0);
	first = b.buf;
	cap = b.cap;
	TEST_CHECK(first != NULL && cap >= NFT_MSG_ROOM);
	put_msg(&ctx, &b, true);
	put_msg(&ctx, &b, true);
	put_msg(&ctx, &b, false);	/* started, never pushed */
	TEST_CHECK(!all_zero(b.buf, cap));
	nft_batch_free(&b);
	/* Kept, and zero everywhere, the open message's bytes too. */
	TEST_CHECK(ctx.spare == first);
	ASSERT_INT_EQ(ctx.spare_cap, cap);
	TEST_CHECK(ctx.spare != NULL && all_zero(ctx.spare, cap));
	/* The next batch takes it. */
	TEST_CHECK(nft_batch_begin(&ctx, &b) == 0);
	TEST_CHECK(b.buf == first);
	TEST_CHECK(ctx.spare == NULL);
	nft_batch_free(&b);
	TEST_CHECK(ctx.spare == first);
	free(ctx.spare);
}

/* A batch grown past NFT_BATCH_KEEP is not kept (a CrowdSec pull of
 * 100,000 decisions must not leave megabytes behind). */
static void
test_batch_large_freed(void)
{
	struct nft_ctx ctx;
	struct nft_batch b;

	memset(&ctx, 0, sizeof(ctx));
	TEST_CHECK(nft_batch_begin(&ctx, &b) == 0);
	while (b.cap <= NFT_BATCH_KEEP) {
		b.len = b.cap - NFT_MSG_ROOM + 1;
		TEST_CHECK(nft_batch_room(&b) == 0);
	}
	b.len = 0;
	nft_batch_free(&b);
	TEST_CHECK(ctx.spare == NULL);
}

int
main(void)
{
	TEST_RUN(test_batch_kept);
	TEST_RUN(test_batch_large_freed);
	return TEST_END("nft");
}
