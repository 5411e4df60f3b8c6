package secrets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// ChecksumAnnotation is the pod template annotation that carries a
// consumer's checksum. Environment variables from a Secret are read only
// when a container starts, so changing this annotation is what makes a
// changed Secret reach the pods. content renders the same key, so a later
// `up` keeps the value `secret set` wrote instead of rolling again.
const ChecksumAnnotation = "neuroscale.dev/secret-checksum"

// checksumDomain separates these hashes from any other sha256 of the same
// bytes, and versions the layout.
const checksumDomain = "neuroscale.dev/secret-checksum/v1\x00"

// Checksum is a stable sha256 over what consumer ("namespace/name") reads
// from set: each of its entries' name and value, length-prefixed, in name
// order. It is "" when the consumer reads none. The name salts each value,
// so equal values under different names hash differently, and nothing in
// the result can be turned back into a value.
func Checksum(set *Set, consumer string) string {
	h := sha256.New()
	h.Write([]byte(checksumDomain))
	n := 0
	for _, e := range set.Entries {
		if !slices.Contains(e.Consumers, consumer) {
			continue
		}
		writeField(h, []byte(e.Name))
		writeField(h, e.Value.Reveal())
		n++
	}
	if n == 0 {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Checksums maps every consumer of set to its Checksum: what the engine
// passes to render as content.Inputs.SecretChecksums.
func Checksums(set *Set) map[string]string {
	out := map[string]string{}
	for _, c := range set.Consumers() {
		if sum := Checksum(set, c); sum != "" {
			out[c] = sum
		}
	}
	return out
}

func writeField(h interface{ Write([]byte) (int, error) }, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	_, _ = h.Write(n[:])
	_, _ = h.Write(b)
}
