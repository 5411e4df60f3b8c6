//go:build !unix

package preflight

import "errors"

// freeBytes is not implemented off Unix; the disk check is then skipped.
func freeBytes(string) (uint64, error) {
	return 0, errors.New("free space is only measured on Unix")
}
