package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// postgres is a real PostgreSQL server (Debian's postgresql package) that
// stands in for a chart's PostgreSQL pod: the Backstage chart's bundled
// Bitnami PostgreSQL here. It runs in a temporary directory of its own (the
// cluster directory is private to the launcher's user, and PostgreSQL
// refuses to run as root, so as root it runs as the postgres or nobody
// user), on a free loopback port, with local superuser access over its
// socket only.
type postgres struct {
	Port      int
	bin       string
	base      string // temporary directory: data/, socket/
	cred      *syscall.Credential
	cmd       *exec.Cmd
	exited    chan struct{}
	logPath   string
	superuser string
}

// pgBinDir finds the PostgreSQL server binaries: on PATH, else Debian's
// versioned directory (the package does not put initdb on PATH).
func pgBinDir() (string, error) {
	// On PATH it may be a symlink (into Debian's directory): the
	// directory that matters is the one holding psql and pg_isready too.
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "postgres")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL not found (no initdb on PATH or in /usr/lib/postgresql/*/bin): apt-get install -y postgresql")
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// startPostgres initializes and starts a server; logs go to logPath.
func startPostgres(ctx context.Context, logPath string) (*postgres, error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"psql", "pg_isready"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			return nil, fmt.Errorf("%s not found beside %s/initdb", tool, bin)
		}
	}
	base, err := os.MkdirTemp("", "neuroscale-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres directory: %w", err)
	}
	pg := &postgres{bin: bin, base: base, logPath: logPath, superuser: "postgres", exited: make(chan struct{})}
	if os.Geteuid() == 0 {
		if pg.cred, err = unprivileged(); err != nil {
			pg.cleanup()
			return nil, err
		}
		if err := os.Chown(base, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			pg.cleanup()
			return nil, fmt.Errorf("chown %s: %w", base, err)
		}
	}
	if err := pg.start(ctx); err != nil {
		pg.Stop()
		return nil, err
	}
	return pg, nil
}

// unprivileged returns the credentials PostgreSQL runs with when the
// launcher is root: the package's postgres user, else nobody.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

func (pg *postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, name), args...)
	cmd.Dir = pg.base
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "HOME=" + pg.base}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	return cmd
}

func (pg *postgres) start(ctx context.Context) error {
	data := filepath.Join(pg.base, "data")
	sock := filepath.Join(pg.base, "socket")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return fmt.Errorf("postgres socket dir: %w", err)
	}
	if pg.cred != nil {
		if err := os.Chown(sock, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", sock, err)
		}
	}
	// Passwords over TCP, as the Bitnami image does; the local socket
	// trusts the superuser, which only the launcher uses.
	initdb := pg.command(ctx, "initdb", "-D", data, "-U", pg.superuser, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, tailString(string(out), 2000))
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	pg.Port = ports[0]
	logf, err := os.OpenFile(pg.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("postgres log: %w", err)
	}
	defer logf.Close()
	// Durability is not needed by a test database; Backstage opens a pool
	// per plugin, more than the default 100 connections across replicas.
	cmd := pg.command(context.Background(), "postgres", "-D", data, "-p", strconv.Itoa(pg.Port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300")
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGINT is PostgreSQL's fast shutdown; it also comes should the
	// launcher die without stopping it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	pg.cmd = cmd
	go func() { _ = cmd.Wait(); close(pg.exited) }()
	for {
		ready := pg.command(ctx, "pg_isready", "-q", "-h", sock, "-p", strconv.Itoa(pg.Port), "-U", pg.superuser)
		if ready.Run() == nil {
			return nil
		}
		select {
		case <-pg.exited:
			return fmt.Errorf("postgres exited during start; see %s", pg.logPath)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w; see %s", ctx.Err(), pg.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// EnsureRole creates (or updates) a login role with password that may
// create databases, as the Bitnami image does for its custom user:
// Backstage creates a database per plugin.
func (pg *postgres) EnsureRole(ctx context.Context, name, password string) error {
	if name == "" {
		return errors.New("no user name")
	}
	sql := fmt.Sprintf(`DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %[1]s) THEN
    EXECUTE format('CREATE ROLE %%I LOGIN CREATEDB PASSWORD %%L', %[1]s, %[2]s);
  ELSE
    EXECUTE format('ALTER ROLE %%I LOGIN CREATEDB PASSWORD %%L', %[1]s, %[2]s);
  END IF;
END $$;`, pgQuote(name), pgQuote(password))
	cmd := pg.command(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", filepath.Join(pg.base, "socket"),
		"-p", strconv.Itoa(pg.Port), "-U", pg.superuser, "-d", "postgres", "-f", "-")
	cmd.Stdin = strings.NewReader(sql)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("create role %s: %w: %s", name, err, tailString(out.String(), 1000))
	}
	return nil
}

// pgQuote is a SQL string literal (standard_conforming_strings is on).
func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Stop shuts the server down (fast shutdown) and removes its directory.
func (pg *postgres) Stop() {
	if pg.cmd != nil && pg.cmd.Process != nil {
		_ = pg.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-pg.exited:
		case <-time.After(10 * time.Second):
			_ = pg.cmd.Process.Kill()
			<-pg.exited
		}
	}
	pg.cleanup()
}

func (pg *postgres) cleanup() { _ = os.RemoveAll(pg.base) }

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
