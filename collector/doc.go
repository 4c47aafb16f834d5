// Package collector turns a vmcore into a dump file: makedumpfile's job, and the middle
// of gokdump's pipeline (read -> translate -> classify -> compress -> write). It ties the
// stages together: vmcore reads the crashed kernel's memory, mm says which page frames
// the dump level leaves out, compress shrinks each kept page, and dumpfile writes the
// kdump-compressed file (or its flattened stream) or an ELF core.
//
// The work is done in bounded memory whatever the size of the crashed machine: the pfn
// space is cut into windows (makedumpfile's cyclic mode) and only a few windows, and a
// few chunks of pages, are held at a time.
//
//   - Pass 1 classifies every window (windows are independent, so they are spread over
//     all cores) and counts the pages to dump: the kdump-compressed format puts the page
//     descriptors, one per dumped page, before the page data, so the count must be known
//     before the first page is written. For an ELF dump that leaves zero pages out, this
//     pass also reads the kept pages to find the zero ones, and it lays out the PT_LOADs.
//   - Pass 2 takes each window's verdicts from pass 1's 2nd bitmap where pass 1 kept
//     them (as runs, in at most 512 KiB: keptBitmap), or else classifies the window
//     again (the windows past that budget, so that memory stays flat however large the
//     machine), and reads the dumped pages in pfn order in chunks; workers detect zero
//     pages and compress each chunk with their own compressor and pooled buffers, and
//     a single writer emits the results strictly in pfn order, with a bounded number of
//     chunks in flight. The output is the same byte for byte whatever the window size
//     or the number of threads.
//
// An ELF dump (Format ELF, makedumpfile -E) has the same program headers as
// makedumpfile 1.7.2 writes for the same vmcore and level: each source PT_LOAD is
// split only where 256 or more excluded pages are followed by a kept one, shorter runs
// of excluded pages stay in the file with their real contents, and each piece's p_memsz
// reaches the next piece (the last one's the end of the source PT_LOAD), so the pages
// left out read back as zeros rather than as a hole. Readers such as crash give up on
// an address no PT_LOAD covers, and some of the pages a level leaves out (zero pages,
// at -d 1 and up) are ones they read.
//
// Usage:
//
//	src, err := vmcore.Open("/proc/vmcore")
//	...
//	out, err := os.OpenFile("vmcore.kdump", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
//	st, err := collector.Collect(ctx, src, out, collector.Options{DumpLevel: 31, Codec: compress.LZO})
//
// Errors: a page that cannot be read, a full disk or a size limit end the dump where it
// is; what was written stays readable and is marked incomplete (the kdump header's
// incomplete status bit, or e_flags 1 of an ELF core), and Collect returns an error
// (errors.Is(err, ErrIncomplete)). makedumpfile gives up on an unreadable page too, but
// leaves no usable file; a truncated dump keeps everything up to the bad page.
// Cancelling ctx stops the work promptly and likewise marks the output incomplete.
package collector
