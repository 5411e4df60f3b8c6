package sources

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/neuroscale-dev/neuroscale/internal/catalog/catalogtest"
)

// TestFetchAllProgress: the downloads report every file and byte, with
// the sizes the HTTP mirror announced; a warm cache reports files only.
func TestFetchAllProgress(t *testing.T) {
	t.Parallel()
	arts := loadCatalog(t).Artifacts()
	srv, _ := countingServer(t, catalogtest.Fixtures(t))
	var mu sync.Mutex
	var last Progress
	var calls int
	f, err := New(Options{CacheDir: t.TempDir(), Mirror: srv.URL + "/", Timeout: 30 * time.Second, OnProgress: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if p.Bytes < last.Bytes || p.Done < last.Done || p.Total < last.Total {
			t.Errorf("progress went back: %+v after %+v", p, last)
		}
		last = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.FetchAll(context.Background(), arts)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, p := range got {
		size += fileSize(t, p)
	}
	if last.Files != len(arts) || last.Done != len(arts) || last.Bytes != size || last.Total != size {
		t.Errorf("final progress %+v, want %d files and %d bytes done of %d", last, len(arts), size, size)
	}
	if calls <= 2*len(arts) {
		t.Errorf("%d progress reports for %d files: no byte progress in between", calls, len(arts))
	}

	last, calls = Progress{}, 0
	if _, err := f.FetchAll(context.Background(), arts); err != nil {
		t.Fatal(err)
	}
	if last.Done != len(arts) || last.Bytes != 0 || calls != len(arts) {
		t.Errorf("warm cache: %d reports, last %+v; want one per file and no bytes", calls, last)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
