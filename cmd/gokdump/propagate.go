package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/gokdump/gokdump/config"
	"github.com/gokdump/gokdump/service"
)

func init() {
	register(&command{name: "propagate", summary: "make the ssh target's key if missing and install it on the server (kdumpctl propagate)", run: runPropagate})
}

// authorizeCommand is the fixed command run on the server: it appends the public
// key (standard input) to the user's authorized_keys. Nothing from the configuration
// is in it.
const authorizeCommand = `umask 077 && mkdir -p "$HOME/.ssh" && cat >> "$HOME/.ssh/authorized_keys"`

func runPropagate(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "propagate", `[--config FILE] [--type ed25519|rsa] [--ssh PROGRAM]

For an ssh target: makes the key sshkey names (default /root/.ssh/kdump_id_rsa) when
it is missing (ed25519 unless --type rsa; mode 0600, no passphrase) and appends its
public key to the server user's ~/.ssh/authorized_keys through the ssh client
(PROGRAM, default ssh) with your usual authentication: a password, another key or an
agent. The client asks you to accept the server's host key the first time, which
puts it into /root/.ssh/known_hosts, where "gokdump start" takes it from.`)
	file := fs.String("config", "", "the configuration `file`")
	kind := fs.String("type", "ed25519", "the key `type` to make: ed25519 or rsa")
	sshProg := fs.String("ssh", "ssh", "the ssh client `program`")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	explicit := *file != "" || os.Getenv(configEnv) != ""
	cfg, err := loadConfig(configPath(*file), explicit)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump propagate: %v\n", err)
		return 1
	}
	if cfg.Target.Kind != config.TargetSSH {
		fmt.Fprintf(e.stderr, "gokdump propagate: %s has no ssh target: nothing to propagate\n", cfg.File)
		return 1
	}
	key := cfg.SSHKey
	if key == "" {
		key = config.DefaultSSHKey
	}
	pub, created, err := service.EnsureSSHKey(key, *kind)
	if err != nil {
		fmt.Fprintf(e.stderr, "gokdump propagate: %v\n", err)
		return 1
	}
	if created {
		fmt.Fprintf(e.stdout, "made %s (%s) and %s.pub\n", key, *kind, key)
	} else {
		fmt.Fprintf(e.stdout, "using the existing key %s\n", key)
	}
	t := cfg.Target
	argv := []string{}
	if t.Port != 0 {
		argv = append(argv, "-p", strconv.Itoa(t.Port))
	}
	// The user and host passed config's strict check (letters, digits, -._; an
	// IPv6 address): "--" keeps them from being read as options all the same.
	argv = append(argv, "-l", t.User, "--", t.Host, authorizeCommand)
	cmd := exec.CommandContext(ctx, *sshProg, argv...)
	cmd.Stdin = bytes.NewReader(pub)
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(e.stderr, "gokdump propagate: installing the key on %s: %v\n", t.Spec, err)
		return 1
	}
	fmt.Fprintf(e.stdout, "installed %s.pub in %s@%s's ~/.ssh/authorized_keys; now run gokdump start\n", key, t.User, t.Host)
	return 0
}
