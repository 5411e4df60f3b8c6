package forward

import (
	"strings"
	"testing"
)

// TestReasonOfNeverEmpty: verify prints "forward X is starting: <reason>"
// for a forward that did not come up; the reason must say something.
func TestReasonOfNeverEmpty(t *testing.T) {
	t.Parallel()
	for _, st := range []Status{
		{State: StateStarting},
		{State: StateWaiting},
		{State: StateDown, Reason: "pod gone"},
	} {
		got := reasonOf(st)
		if strings.TrimSpace(got) == "" {
			t.Errorf("%s: empty reason", st.State)
		}
		if st.Reason != "" && got != st.Reason {
			t.Errorf("%s: reason %q, want the forward's own %q", st.State, got, st.Reason)
		}
	}
}
