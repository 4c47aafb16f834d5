/*
 * lzohelper: runs liblzo2 on request, for the interop tests of package lzo.
 *
 * It reads requests from standard input until end of file and answers each on standard
 * output. All integers are little-endian.
 *   request:  op (1 byte: 'c' compress with lzo1x_1_compress, 'd' decompress with
 *             lzo1x_decompress_safe), u32 limit (largest output for 'd'), u32 length,
 *             then length bytes of data
 *   answer:   i32 liblzo2 status (0 = LZO_E_OK), u32 length, then length bytes
 * It exits with status 1 on a malformed request or an I/O error.
 */
#include <lzo/lzo1x.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
	static unsigned char wrkmem[LZO1X_1_MEM_COMPRESS];
	unsigned char head[9];

	if (lzo_init() != LZO_E_OK) {
		fprintf(stderr, "lzohelper: lzo_init failed\n");
		return 1;
	}
	while (fread(head, 1, 1, stdin) == 1) {
		if (!read_full(head + 1, 8)) {
			fprintf(stderr, "lzohelper: short request header\n");
			return 1;
		}
		uint32_t limit = get_u32(head + 1), len = get_u32(head + 5);
		if (len > (64u << 20) || limit > (64u << 20)) {
			fprintf(stderr, "lzohelper: request too large\n");
			return 1;
		}
		unsigned char *in = malloc(len + 1);
		size_t cap = head[0] == 'c' ? len + len / 16 + 64 + 3 : limit;
		unsigned char *out = malloc(cap + 1);
		if (!in || !out || !read_full(in, len)) {
			fprintf(stderr, "lzohelper: cannot read %u bytes\n", len);
			return 1;
		}
		lzo_uint outlen = cap;
		int r;
		if (head[0] == 'c')
			r = lzo1x_1_compress(in, len, out, &outlen, wrkmem);
		else if (head[0] == 'd')
			r = lzo1x_decompress_safe(in, len, out, &outlen, NULL);
		else {
			fprintf(stderr, "lzohelper: unknown op %c\n", head[0]);
			return 1;
		}
		if (r != LZO_E_OK)
			outlen = 0;
		unsigned char ans[8];
		put_u32(ans, (uint32_t)r);
		put_u32(ans + 4, (uint32_t)outlen);
		if (fwrite(ans, 1, 8, stdout) != 8 || fwrite(out, 1, outlen, stdout) != outlen) {
			fprintf(stderr, "lzohelper: write failed\n");
			return 1;
		}
		fflush(stdout);
		free(in);
		free(out);
	}
	return 0;
}
