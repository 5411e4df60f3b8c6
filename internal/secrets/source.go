package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// MaxValueBytes bounds what is read from a file or standard input: a
// Kubernetes Secret holds at most 1 MiB in total, and reading a whole
// mistakenly named file (a disk image, /dev/zero) should fail fast.
const MaxValueBytes = 64 << 10

// OriginKind says which kind of source a value came from.
type OriginKind string

// Origin kinds.
const (
	OriginEnv     OriginKind = "env"
	OriginFile    OriginKind = "file"
	OriginPrompt  OriginKind = "prompt"
	OriginStdin   OriginKind = "stdin"
	OriginCluster OriginKind = "cluster"
)

// Origin is where a value came from: what errors and output name instead
// of the value.
type Origin struct {
	Kind OriginKind `json:"kind"`
	// Ref is the variable name, the file path or the Secret's
	// namespace/name; empty for prompt and stdin.
	Ref string `json:"ref,omitempty"`
}

// String is how messages name the origin: "env GITHUB_TOKEN",
// "file /run/token", "prompt", "standard input".
func (o Origin) String() string {
	switch o.Kind {
	case OriginEnv:
		return "env " + o.Ref
	case OriginFile:
		return "file " + o.Ref
	case OriginPrompt:
		return "prompt"
	case OriginStdin:
		return "standard input"
	case OriginCluster:
		return "Secret " + o.Ref
	}
	return string(o.Kind)
}

// Terminal reads one line from the user without echoing it. A nil
// Terminal means standard input is not a terminal, so there is no one to
// ask.
type Terminal interface {
	ReadPassword() ([]byte, error)
}

// fdTerminal is a Terminal on a file descriptor.
type fdTerminal struct{ fd int }

func (t fdTerminal) ReadPassword() ([]byte, error) { return term.ReadPassword(t.fd) }

// StdinTerminal returns a Terminal reading from in when in is a terminal,
// and nil otherwise (a pipe, a file, a test buffer).
func StdinTerminal(in io.Reader) Terminal {
	f, ok := in.(interface{ Fd() uintptr })
	if !ok {
		return nil
	}
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return fdTerminal{fd: fd}
}

// Prompt asks for name on t, writing the question to w. The answer is not
// echoed; one trailing newline is removed as from a file.
func Prompt(t Terminal, w io.Writer, name, why string) (Value, error) {
	if t == nil {
		return Value{}, errors.New("standard input is not a terminal")
	}
	if why != "" {
		fmt.Fprintf(w, "%s is needed: %s.\n", name, why)
	}
	fmt.Fprintf(w, "%s (input hidden): ", name)
	b, err := t.ReadPassword()
	// ReadPassword swallows the user's Enter, so end the prompt's line.
	fmt.Fprintln(w)
	if err != nil {
		return Value{}, fmt.Errorf("read %s from the terminal: %w", name, err)
	}
	return NewValue(trimNewline(b)), nil
}

// ReadFile reads a value from a file: one trailing newline (LF or CRLF) is
// removed, because editors and `echo >` add one; anything else, spaces
// included, is kept and left to validation to report.
func ReadFile(path string) (Value, error) {
	f, err := os.Open(path)
	if err != nil {
		return Value{}, err
	}
	defer f.Close()
	return readLimited(f)
}

// ReadStream reads a value piped on standard input, like ReadFile.
func ReadStream(r io.Reader) (Value, error) { return readLimited(r) }

func readLimited(r io.Reader) (Value, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxValueBytes+1))
	if err != nil {
		return Value{}, err
	}
	if len(b) > MaxValueBytes {
		return Value{}, fmt.Errorf("more than %d bytes: not a secret value", MaxValueBytes)
	}
	return NewValue(trimNewline(b)), nil
}

func trimNewline(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}
