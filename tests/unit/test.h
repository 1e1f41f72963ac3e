/*
 * test.h — the whole unit-test framework.  A test file defines test
 * functions, lists them in main() with TEST_RUN, and ends with
 * TEST_END(), which prints "NAME: N passed, N failed" and returns non-zero
 * on failure.  A failed check prints file:line and the values.
 */
#ifndef TEST_H
#define TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int test_passed, test_failed;

#define TEST_CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	test_failed_checks++; } } while (0)

#define ASSERT_INT_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { fprintf(stderr, "%s:%d: %s == %s: %lld != %lld\n", \
	    __FILE__, __LINE__, #a, #b, _a, _b); test_failed_checks++; } } while (0)

#define ASSERT_STR_EQ(a, b) do { const char *_a = (a), *_b = (b); \
	if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) { \
	    fprintf(stderr, "%s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, \
	    __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
	    test_failed_checks++; } } while (0)

#define ASSERT_MEM_EQ(a, b, n) do { if (memcmp((a), (b), (n)) != 0) { \
	fprintf(stderr, "%s:%d: %s and %s differ\n", __FILE__, __LINE__, #a, #b); \
	test_failed_checks++; } } while (0)

#define TEST_RUN(fn) do { int _before = test_failed_checks; fn(); \
	if (test_failed_checks == _before) test_passed++; \
	else { test_failed++; fprintf(stderr, "FAIL %s\n", #fn); } } while (0)

#define TEST_END(name) (printf("%s: %d passed, %d failed\n", (name), \
	test_passed, test_failed), test_failed != 0)

#endif
