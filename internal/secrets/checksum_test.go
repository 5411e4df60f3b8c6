package secrets

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"testing"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
)

func TestChecksum(t *testing.T) {
	t.Parallel()
	const bs, other = "backstage/neuroscale-backstage", "team/other"
	entry := func(name, value string, consumers ...string) Entry {
		return Entry{Name: name, Value: NewValue([]byte(value)), Consumers: consumers}
	}
	base := &Set{Entries: []Entry{entry("A", "value-a", bs), entry("B", "value-b", bs, other)}}
	sum := Checksum(base, bs)

	tests := []struct {
		name     string
		set      *Set
		consumer string
		same     bool
	}{
		{"same content, new Set", &Set{Entries: []Entry{entry("A", "value-a", bs), entry("B", "value-b", bs)}}, bs, true},
		{"a value changed", &Set{Entries: []Entry{entry("A", "value-A", bs), entry("B", "value-b", bs)}}, bs, false},
		{"same values under other names", &Set{Entries: []Entry{entry("X", "value-a", bs), entry("Y", "value-b", bs)}}, bs, false},
		{"value moved between names", &Set{Entries: []Entry{entry("A", "value-avalue-b", bs), entry("B", "", bs)}}, bs, false},
		{"a key added", &Set{Entries: []Entry{entry("A", "value-a", bs), entry("B", "value-b", bs), entry("C", "c", bs)}}, bs, false},
		{"another consumer reads less", base, other, false},
		{"a key another consumer reads", &Set{Entries: []Entry{entry("A", "value-a", bs), entry("B", "value-b", bs), entry("C", "c", other)}}, bs, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Checksum(tt.set, tt.consumer)
			if (got == sum) != tt.same {
				t.Fatalf("checksum equal = %v, want %v", got == sum, tt.same)
			}
		})
	}
	if len(sum) != 64 {
		t.Fatalf("checksum %q is not a hex sha256", sum)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		t.Fatal(err)
	}
	// Not a bare hash of a value, so a hash lookup of known tokens fails.
	for _, v := range []string{"value-a", "value-b", "value-avalue-b"} {
		h := sha256.Sum256([]byte(v))
		if hex.EncodeToString(h[:]) == sum {
			t.Fatalf("checksum is the bare sha256 of %q", v)
		}
	}
	if got := Checksum(base, "nobody/reads"); got != "" {
		t.Fatalf("checksum for a non-consumer = %q, want empty", got)
	}
	want := map[string]string{bs: sum, other: Checksum(base, other)}
	if got := Checksums(base); !maps.Equal(got, want) {
		t.Fatalf("Checksums = %v, want %v", got, want)
	}
}

// TestContentUsesTheAnnotation guards the contract with package content:
// render must put the checksum under the key Roll writes, or every `up`
// after a `secret set` would roll the pods once more.
func TestContentUsesTheAnnotation(t *testing.T) {
	t.Parallel()
	r := load(t, header)
	consumer := content.BackstageNamespace + "/" + content.BackstageRelease
	vals, err := content.Values(r, config.Backstage, content.ChartBackstage, content.Inputs{SecretChecksums: map[string]string{consumer: "abc123"}})
	if err != nil {
		t.Fatal(err)
	}
	bs, _ := vals["backstage"].(map[string]any)
	ann, _ := bs["podAnnotations"].(map[string]any)
	if ann[ChecksumAnnotation] != "abc123" {
		t.Fatalf("backstage podAnnotations = %v, want %s: abc123", ann, ChecksumAnnotation)
	}
	if got := DefaultTarget(); got.Name != content.BackstageSecret || got.Namespace != content.BackstageNamespace {
		t.Fatalf("DefaultTarget = %v", got)
	}
	secretsRef, _ := bs["extraEnvVarsSecrets"].([]any)
	if len(secretsRef) != 1 || secretsRef[0] != DefaultTarget().Name {
		t.Fatalf("Backstage reads %v, not the Secret neuroscale stores", secretsRef)
	}
}
