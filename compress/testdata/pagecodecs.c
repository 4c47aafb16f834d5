/*
 * pagecodecs: compresses and decompresses pages with the C libraries makedumpfile
 * links, called as makedumpfile calls them, for the interop tests of package compress.
 *
 * Requests on standard input until end of file, answers on standard output; integers
 * are little-endian.
 *   request:  op (1 byte: 'c' compress, 'd' decompress), codec (1 byte: 'z' zlib,
 *             'l' lzo, 's' snappy, 'Z' zstd), u32 limit (output buffer size for 'd'),
 *             u32 length, then length bytes
 *   answer:   i32 status (0 = success, else the library's error code or -1000 for a
 *             decoded size other than limit), u32 length, then length bytes
 * Compression: compress2 at Z_BEST_SPEED, lzo1x_1_compress, snappy_compress,
 * ZSTD_compressCCtx at level 1. Decompression: uncompress, lzo1x_decompress_safe,
 * snappy_uncompressed_length + snappy_uncompress, ZSTD_decompress; like makedumpfile,
 * success requires exactly limit bytes out.
 */
#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

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
	unsigned char head[10];
	ZSTD_CCtx *cctx = ZSTD_createCCtx();

	if (lzo_init() != LZO_E_OK || cctx == NULL) {
		fprintf(stderr, "pagecodecs: cannot initialise lzo or zstd\n");
		return 1;
	}
	while (fread(head, 1, 1, stdin) == 1) {
		if (fread(head + 1, 1, 9, stdin) != 9) {
			fprintf(stderr, "pagecodecs: short request header\n");
			return 1;
		}
		uint32_t limit = get_u32(head + 2), len = get_u32(head + 6);
		if (len > (16u << 20) || limit > (16u << 20)) {
			fprintf(stderr, "pagecodecs: request too large\n");
			return 1;
		}
		size_t cap = head[0] == 'c' ? len + len / 4 + 1024 : limit;
		unsigned char *in = malloc(len + 1), *out = malloc(cap + 1);
		if (!in || !out || fread(in, 1, len, stdin) != len) {
			fprintf(stderr, "pagecodecs: cannot read %u bytes\n", len);
			return 1;
		}
		long status = 0;
		size_t outlen = cap;
		if (head[0] == 'c') {
			switch (head[1]) {
			case 'z': {
				uLongf n = cap;
				status = compress2(out, &n, in, len, Z_BEST_SPEED);
				outlen = n;
				break;
			}
			case 'l': {
				lzo_uint n = cap;
				status = lzo1x_1_compress(in, len, out, &n, wrkmem);
				outlen = n;
				break;
			}
			case 's':
				status = snappy_compress((char *)in, len, (char *)out, &outlen);
				break;
			case 'Z':
				outlen = ZSTD_compressCCtx(cctx, out, cap, in, len, 1);
				if (ZSTD_isError(outlen))
					status = -(long)ZSTD_getErrorCode(outlen) - 1;
				break;
			default:
				status = -2000;
			}
		} else {
			switch (head[1]) {
			case 'z': {
				uLongf n = cap;
				status = uncompress(out, &n, in, len);
				outlen = n;
				break;
			}
			case 'l': {
				lzo_uint n = cap;
				status = lzo1x_decompress_safe(in, len, out, &n, NULL);
				outlen = n;
				break;
			}
			case 's':
				status = snappy_uncompressed_length((char *)in, len, &outlen);
				if (status == SNAPPY_OK && outlen != limit)
					status = -1000;
				if (status == SNAPPY_OK)
					status = snappy_uncompress((char *)in, len, (char *)out, &outlen);
				break;
			case 'Z':
				outlen = ZSTD_decompress(out, cap, in, len);
				if (ZSTD_isError(outlen))
					status = -(long)ZSTD_getErrorCode(outlen) - 1;
				break;
			default:
				status = -2000;
			}
			if (status == 0 && outlen != limit)
				status = -1000;
		}
		if (status != 0)
			outlen = 0;
		unsigned char ans[8];
		put_u32(ans, (uint32_t)status);
		put_u32(ans + 4, (uint32_t)outlen);
		if (fwrite(ans, 1, 8, stdout) != 8 || fwrite(out, 1, outlen, stdout) != outlen) {
			fprintf(stderr, "pagecodecs: write failed\n");
			return 1;
		}
		fflush(stdout);
		free(in);
		free(out);
	}
	ZSTD_freeCCtx(cctx);
	return 0;
}
