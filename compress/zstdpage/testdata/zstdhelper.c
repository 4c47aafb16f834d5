/*
 * zstdhelper: runs libzstd on request, for the interop tests of package zstdpage.
 *
 * It reads requests from standard input until end of file and answers each on standard
 * output. All integers are little-endian.
 *   request:  op (1 byte: 'c' compress with ZSTD_compressCCtx at level 1, as
 *             makedumpfile -z does; 'd' decompress with ZSTD_decompress), u32 limit
 *             (the exact decoded size expected for 'd'), u32 length, then length bytes
 *   answer:   i32 status (0 = success; else libzstd's error code, or -1000 when 'd'
 *             decoded a size other than limit), u32 length, then length bytes
 * It exits with status 1 on a malformed request or an I/O error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

static int read_full(void *p, size_t n)
{
	return fread(p, 1, n, stdin) == n;
}

static uint32_t get_u32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_u32(unsigned char *b, uint32_t v)
{
	b[0] = v;
	b[1] = v >> 8;
	b[2] = v >> 16;
	b[3] = v >> 24;
}

int main(void)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	unsigned char head[9];

	if (cctx == NULL) {
		fprintf(stderr, "zstdhelper: ZSTD_createCCtx failed\n");
		return 1;
	}
	while (fread(head, 1, 1, stdin) == 1) {
		if (!read_full(head + 1, 8)) {
			fprintf(stderr, "zstdhelper: short request header\n");
			return 1;
		}
		uint32_t limit = get_u32(head + 1), len = get_u32(head + 5);
		if (len > (64u << 20) || limit > (64u << 20)) {
			fprintf(stderr, "zstdhelper: request too large\n");
			return 1;
		}
		unsigned char *in = malloc(len + 1);
		size_t cap = head[0] == 'c' ? ZSTD_compressBound(len) : limit;
		unsigned char *out = malloc(cap + 1);
		if (!in || !out || !read_full(in, len)) {
			fprintf(stderr, "zstdhelper: cannot read %u bytes\n", len);
			return 1;
		}
		int32_t status = 0;
		size_t r;
		if (head[0] == 'c')
			r = ZSTD_compressCCtx(cctx, out, cap, in, len, 1);
		else if (head[0] == 'd')
			/* One byte more room than expected, so that a frame decoding to more
			 * than limit is seen as such rather than as a too-small buffer. */
			r = ZSTD_decompress(out, cap + 1, in, len);
		else {
			fprintf(stderr, "zstdhelper: unknown op %c\n", head[0]);
			return 1;
		}
		if (ZSTD_isError(r)) {
			status = (int32_t)ZSTD_getErrorCode(r);
			if (status == 0)
				status = -1;
			r = 0;
		} else if (head[0] == 'd' && r != limit) {
			status = -1000;
			r = 0;
		}
		unsigned char ans[8];
		put_u32(ans, (uint32_t)status);
		put_u32(ans + 4, (uint32_t)r);
		if (fwrite(ans, 1, 8, stdout) != 8 || fwrite(out, 1, r, stdout) != r) {
			fprintf(stderr, "zstdhelper: write failed\n");
			return 1;
		}
		fflush(stdout);
		free(in);
		free(out);
	}
	return 0;
}
