package cli

import (
	"bytes"
	"testing"
)

func TestKeptSaysHowToRemove(t *testing.T) {
	t.Parallel()
	var none bytes.Buffer
	kept{}.write(&none)
	if none.Len() != 0 {
		t.Errorf("nothing kept, yet: %q", none.String())
	}
	var b bytes.Buffer
	kept{namespaces: []string{"backstage"}, crds: 7, crdGroups: []string{"a.io", "b.io", "c.io", "d.io", "e.io"}}.write(&b)
	want := `Kept, as they may hold data or other users' resources:
  namespace backstage: kubectl delete namespace backstage
  7 CRDs (a.io, b.io, c.io, d.io, ...):
    kubectl delete crd -l neuroscale.dev/component
Or run neuroscale down --purge next time to remove them with the platform.
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
