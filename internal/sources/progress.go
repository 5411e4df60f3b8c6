package sources

import (
	"io"
	"os"
	"sync"
)

// Progress is where the downloads of one FetchAll stand, for a progress
// bar: files served from the cache count as done at once and add no bytes.
type Progress struct {
	// File is the file that just moved, by its mirror path.
	File string
	// Files is how many files FetchAll was asked for; Done how many are
	// fetched (or were cached) and verified.
	Files, Done int
	// Bytes were downloaded so far; Total is the sum of the sizes of the
	// files being or already downloaded, as their sources announced them
	// (0 while none is known).
	Bytes, Total int64
}

// tracker adds the downloads of one FetchAll into a Progress and reports
// each change to Options.OnProgress.
type tracker struct {
	mu     sync.Mutex
	p      Progress
	report func(Progress)
}

func newTracker(files int, report func(Progress)) *tracker {
	return &tracker{p: Progress{Files: files}, report: report}
}

// start says a download of file begins, size bytes long (-1: unknown).
func (t *tracker) start(file string, size int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if size > 0 {
		t.p.Total += size
	}
	t.p.File = file
	t.report(t.p)
}

// add counts n more downloaded bytes of file.
func (t *tracker) add(file string, n int64) {
	if t == nil || n == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Bytes += n
	t.p.File = file
	t.report(t.p)
}

// done says file is fetched and verified (or was cached).
func (t *tracker) done(file string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Done++
	t.p.File = file
	t.report(t.p)
}

// countingReader reports every read to a tracker.
type countingReader struct {
	r    io.Reader
	t    *tracker
	file string
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.t.add(c.file, int64(n))
	return n, err
}

// sized is a body whose length its source announced.
type sized struct {
	io.ReadCloser
	size int64
}

// sizeOf returns the announced length of r, or -1.
func sizeOf(r io.Reader) int64 {
	switch r := r.(type) {
	case *sized:
		return r.size
	case *os.File:
		if st, err := r.Stat(); err == nil {
			return st.Size()
		}
	case interface{ Len() int }:
		return int64(r.Len())
	}
	return -1
}
