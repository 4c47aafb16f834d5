package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gokdump/gokdump/vmcore"
)

// command is one gokdump subcommand. Each lives in a file of its own (info.go, ...) and
// registers itself in commands from an init function, so adding one touches no shared list.
type command struct {
	name    string
	summary string // one line for "gokdump help"
	// run executes the command. args excludes the command name. It returns the process
	// exit code; errors are printed by run itself so each command chooses its codes.
	run func(ctx context.Context, env *env, args []string) int
}

// env is what a command may touch of the outside world, so tests can call run with
// buffers instead of the process's streams.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	prog           string // the name gokdump runs under (argv[0]'s base name)
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("gokdump: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// run is main without the process: it picks the subcommand from args and returns the exit
// code. args[0] is the program name; under the name "makedumpfile" gokdump behaves as
// "gokdump dump", under "vmcore-dmesg" as kexec-tools' vmcore-dmesg (vmcoreDmesg), and
// as PID 1 it is the capture init.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, stdin: os.Stdin}
	prog, argv0 := "gokdump", "gokdump"
	if len(args) > 0 {
		argv0 = args[0]
		prog = filepath.Base(args[0])
		args = args[1:]
	}
	e.prog = prog
	if prog == "vmcore-dmesg" {
		return vmcoreDmesg(e, argv0, args)
	}
	if prog == "makedumpfile" {
		if c, ok := commands["dump"]; ok {
			return c.run(ctx, e, args)
		}
	}
	// As PID 1 the arguments are whatever words of the kernel command line the kernel
	// did not recognise (e.g. "nokaslr", which only the boot code reads), not a command:
	// unless they name one (gokdump as PID 1 of a container), be the init.
	if os.Getpid() == 1 && (len(args) == 0 || commands[args[0]] == nil) {
		if c, ok := commands["init"]; ok {
			return c.run(ctx, e, nil)
		}
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(ctx, e, []string{"--help"})
			}
			fmt.Fprintf(stderr, "gokdump: unknown command %q\n", args[1])
			return 2
		}
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "gokdump: unknown command %q (see \"gokdump help\")\n", name)
		return 2
	}
	return c.run(ctx, e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "gokdump: the Linux kdump user-space stack in one binary.")
	fmt.Fprintln(w, "\nUsage: gokdump COMMAND [OPTIONS] [ARGS]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"gokdump COMMAND --help\" for a command's options.")
}

// newFlagSet returns a FlagSet for command name whose usage text goes to e.stderr.
// synopsis is the usage line's operands, then a blank line and the description; a
// command with nothing to put on the usage line starts synopsis with the blank line
// and is shown as "Usage: gokdump NAME [OPTIONS]".
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("gokdump "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		line, text, _ := strings.Cut(synopsis, "\n")
		line, text = strings.TrimSpace(line), strings.TrimSpace(text)
		if line == "" {
			line = "[OPTIONS]"
		}
		fmt.Fprintf(e.stderr, "Usage: gokdump %s %s\n", name, line)
		if text != "" {
			fmt.Fprintf(e.stderr, "\n%s\n", text)
		}
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs for a command that takes no operands and returns
// (exit code, done): done is true when the command should return at once (help was
// asked for, or the flags were bad, or an operand was given: usage, 2).
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	pos, code, done := parseArgs(fs, args)
	if !done && len(pos) != 0 {
		fs.Usage()
		return 2, true
	}
	return code, done
}

// parseArgs is parseFlags for commands with positional arguments, which it returns.
// Flags may follow positional arguments ("gokdump info VMCORE --json"), as with
// makedumpfile's getopt; after "--" everything is positional.
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, done bool) {
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0, true
		}
		if err != nil {
			return nil, 2, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		// fs.Parse consumed a "--" if the argument just before rest is one.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// openDumpArg parses args for a command that takes flags and one DUMP operand and opens
// the dump. When f is nil the command returns code at once (help, bad usage: 2, or a
// dump that cannot be opened: 1, reported on e.stderr).
func openDumpArg(e *env, fs *flag.FlagSet, args []string) (f *vmcore.File, code int) {
	pos, code, done := parseArgs(fs, args)
	if done {
		return nil, code
	}
	if len(pos) != 1 {
		fs.Usage()
		return nil, 2
	}
	f, err := vmcore.Open(pos[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: %v\n", fs.Name(), err)
		return nil, 1
	}
	return f, 0
}
