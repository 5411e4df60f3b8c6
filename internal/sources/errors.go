package sources

import (
	"fmt"
	"strings"
)

// DigestError is a downloaded file that is not the pinned one.
type DigestError struct {
	// File is the artifact's path (charts/… or manifests/…).
	File string
	// Source is where it came from: a URL, an OCI reference or a mirror file.
	Source   string
	Expected []string
	Actual   string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s from %s has sha256 %s, expected %s", e.File, e.Source, e.Actual, strings.Join(e.Expected, " or "))
}

// Hint says what to do about a file that is not the pinned one.
func (e *DigestError) Hint() string {
	return "the file was not kept. If it came from a mirror, rebuild the mirror with `neuroscale bundle --output-dir DIR`; " +
		"if it came from upstream, either the publisher changed a released file or assets/catalog.yaml lacks that file's official digest: " +
		"do not install it; report it, or install from a mirror (--mirror) holding the pinned files"
}

// FetchError is a file that could not be fetched at all.
type FetchError struct {
	File   string
	Source string
	Err    error
	// Mirror is true when the file was fetched from sources.mirror.
	Mirror bool
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("fetch %s from %s: %v", e.File, e.Source, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// Hint says how to get the file another way.
func (e *FetchError) Hint() string {
	if e.Mirror {
		return "the mirror lacks this file or is unreachable: rebuild it with `neuroscale bundle --output-dir DIR` on a machine with internet, or unset sources.mirror (--mirror)"
	}
	return "check the network (proxy, VPN, DNS), or point sources.mirror (--mirror) at a tree written by `neuroscale bundle`"
}
