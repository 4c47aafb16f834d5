package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/gokdump/gokdump/assemble"
	"github.com/gokdump/gokdump/collector"
	"github.com/gokdump/gokdump/compress"
	"github.com/gokdump/gokdump/makedumpfile"
	"github.com/gokdump/gokdump/mm"
	"github.com/gokdump/gokdump/vmcore"
)

func init() {
	register(&command{
		name:    "assemble",
		summary: "build a vmcore from raw physical memory and the crashed kernel's elfcorehdr= address",
		run:     runAssemble,
	})
}

// Exit codes of "gokdump assemble": 1-4 and 9 are those of kexec-tools' kdump program,
// which scripts may test; 5 (memory unreadable) and 8 (write failed) are its codes
// for a failed mmap and a failed write.
const (
	asmExitNoAddress  = 1
	asmExitBadAddress = 2
	asmExitNoMemory   = 3
	asmExitBadHeader  = 4
	asmExitReadMemory = 5
	asmExitWrite      = 8
	asmExitUsage      = 9
)

func runAssemble(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "assemble", `[--mem SOURCE] [--map FILEOFF:PHYS:SIZE ...] [-o FILE] [ELFCOREHDR]

Writes an ELF vmcore of a crashed kernel from its physical memory, as /proc/vmcore
would show it, given the physical address of the ELF core header the crashed kernel
prepared: the capture kernel's elfcorehdr= option (ELFCOREHDR, or the elfcorehdr
environment variable), e.g. 0x27000000, 1031540K, or size@address.

SOURCE is /dev/mem, a raw RAM image holding physical memory from address 0 (e.g. a
hypervisor's memory-backend file), or with --map an image holding the given
physical ranges at the given file offsets. The vmcore goes to standard output or to
FILE (mode 0600; not overwritten unless -f). With --dump-level or --compress it is
filtered and compressed on the way out, as "gokdump dump" does (kdump-compressed;
flattened when written to standard output).

Exit codes: 1 no address, 2 bad address, 3 cannot open SOURCE, 4 invalid ELF core
header, 5 memory cannot be read, 8 cannot write, 9 bad arguments.`)
	memPath := fs.String("mem", "/dev/mem", "physical memory: /dev/mem or a RAM image file")
	var maps assemble.Ranges
	fs.Var(&maps, "map", "SOURCE holds SIZE bytes of physical memory from PHYS at offset FILEOFF: `FILEOFF:PHYS:SIZE` (repeatable; 0x hex, K/M/G)")
	out := fs.String("o", "", "write the vmcore to `FILE` instead of standard output")
	force := fs.Bool("f", false, "overwrite FILE if it exists")
	levelText := fs.String("dump-level", "", "leave out pages as makedumpfile -d `LEVEL` does, a sum of: 1 zero, 2 cache without private data, 4 all cache, 8 user data, 16 free")
	codecName := fs.String("compress", "", "compress pages with `CODEC` (none, zlib, lzo, snappy, zstd); writes a kdump-compressed file")
	asELF := fs.Bool("elf", false, "with --dump-level: write a filtered ELF core instead of a kdump-compressed file")
	pos, code, done := parseArgs(fs, args)
	if done {
		if code != 0 {
			return asmExitUsage
		}
		return 0
	}
	errorf := func(code int, format string, a ...any) int {
		fmt.Fprintf(e.stderr, "gokdump assemble: "+format+"\n", a...)
		return code
	}
	if len(pos) > 1 {
		return errorf(asmExitUsage, "invalid argument count: want at most one ELFCOREHDR address, got %d arguments %q", len(pos), pos)
	}

	filter := *levelText != "" || *codecName != ""
	var opts collector.Options
	if filter {
		if *levelText != "" {
			level, err := strconv.ParseUint(*levelText, 10, 8)
			if err != nil || level > uint64(mm.MaxDumpLevel) {
				return errorf(asmExitUsage, "--dump-level %q: want a number 0..%d", *levelText, mm.MaxDumpLevel)
			}
			opts.DumpLevel = mm.DumpLevel(level)
		}
		if *codecName != "" {
			c, err := compress.ParseCodec(*codecName)
			if err != nil {
				return errorf(asmExitUsage, "--compress: %v", err)
			}
			opts.Codec = c
		}
		if *asELF {
			opts.Format = collector.ELF
		}
		opts.Flattened = *out == "" && opts.Format == collector.KdumpCompressed
		opts.Warn = func(msg string) { fmt.Fprintf(e.stderr, "gokdump assemble: warning: %s\n", msg) }
	} else if *asELF {
		return errorf(asmExitUsage, "--elf only makes sense with --dump-level or --compress (the unfiltered output is an ELF core)")
	}

	text, from := "", "argument"
	if len(pos) == 1 {
		text = pos[0]
	} else if v, ok := os.LookupEnv("elfcorehdr"); ok {
		text, from = v, "elfcorehdr environment variable"
	}
	if text == "" {
		return errorf(asmExitNoAddress, "cannot find the start of the core dump: give the ELF core header's physical address (elfcorehdr= of the capture kernel) as the argument or in the elfcorehdr environment variable")
	}
	addr, _, err := assemble.ParseAddress(text)
	if err != nil {
		return errorf(asmExitBadAddress, "bad core dump start address %q (%s): %v", text, from, err)
	}

	mem, err := assemble.OpenMemory(*memPath, maps)
	if err != nil {
		return errorf(asmExitNoMemory, "cannot open the memory source: %v", err)
	}
	defer mem.Close()

	core, err := assemble.New(mem, addr)
	if err != nil {
		var fe *assemble.FormatError
		if errors.As(err, &fe) {
			return errorf(asmExitBadHeader, "invalid ELF core header at physical %#x: %v", addr, err)
		}
		return errorf(asmExitReadMemory, "reading the ELF core header at physical %#x: %v", addr, err)
	}

	var dst io.Writer = e.stdout
	var file *os.File
	name := "standard output"
	if *out != "" {
		name = *out
		if file, err = makedumpfile.Create(name, *force); err != nil {
			return errorf(asmExitWrite, "%v", err)
		}
		defer file.Close()
		dst = file
	}
	// The errors of a failed write name the memory that could not be read (code 5)
	// or the output (code 8).
	fail := func(err error) int {
		code := asmExitWrite
		var me *assemble.MissingError
		var re *assemble.ReadError
		if errors.As(err, &me) || errors.As(err, &re) {
			code = asmExitReadMemory
		}
		if file != nil {
			if !filter {
				core.MarkIncomplete(file)
			}
			fmt.Fprintf(e.stderr, "gokdump assemble: %s is incomplete\n", name)
		}
		return errorf(code, "writing %s: %v", name, err)
	}

	if filter {
		src, err := vmcore.NewFile(core, core.Size(), fmt.Sprintf("vmcore assembled from %s at %#x", mem.Name(), addr))
		if err != nil {
			return errorf(asmExitBadHeader, "the assembled vmcore does not read back: %v", err)
		}
		if _, err := collector.Collect(ctx, src, dst, opts); err != nil {
			return fail(err)
		}
	} else if _, err := core.WriteTo(ctxWriter{ctx, dst}); err != nil {
		return fail(err)
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return errorf(asmExitWrite, "syncing %s: %v", name, err)
		}
		if err := file.Close(); err != nil {
			return errorf(asmExitWrite, "closing %s: %v", name, err)
		}
	}
	return 0
}

// ctxWriter stops a long write when ctx ends (Ctrl-C).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
