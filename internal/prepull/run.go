package prepull

import (
	"context"
	"errors"
	"sync"

	"golang.org/x/sync/errgroup"
)

// DefaultParallel is how many images are pulled at once: enough to keep a
// laptop's link busy while one registry answers slowly, few enough that
// the images listed first (those the stages need first, see Images) are
// not starved by the rest.
const DefaultParallel = 4

// Puller fetches one image onto the cluster's nodes.
type Puller interface {
	// Pull fetches ref and returns the bytes the image takes on a node, 0
	// when that is not known.
	Pull(ctx context.Context, ref string) (int64, error)
}

// Options are Run's choices; the zero value pulls DefaultParallel at once
// and reports nothing.
type Options struct {
	// Parallel bounds the pulls in flight (default DefaultParallel).
	Parallel int
	// Report is told after each image, from the pulling goroutines one
	// at a time.
	Report func(Status)
}

// Status is how far a Run is.
type Status struct {
	// Done images of Total are finished, Failed of them in error.
	Done, Total, Failed int
	// Bytes is what the finished images take on a node.
	Bytes int64
	// Image is the image that just finished, Err why it failed.
	Image string
	Err   error
}

// Result is what a Run did.
type Result struct {
	Pulled int
	Bytes  int64
	// Failed are the images that could not be pulled, each a *PullError;
	// they are warnings, as the stage that needs one pulls it again.
	Failed []error
}

// Run pulls refs with pl, at most Options.Parallel at a time, in the
// order given (Images': the images the stages need first, first). It stops
// starting pulls when ctx ends; failures do not stop the others.
func Run(ctx context.Context, pl Puller, refs []string, o Options) Result {
	limit := o.Parallel
	if limit <= 0 {
		limit = DefaultParallel
	}
	var (
		mu  sync.Mutex
		res Result
		st  = Status{Total: len(refs)}
	)
	g := errgroup.Group{}
	g.SetLimit(limit)
	for _, ref := range refs {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			n, err := pl.Pull(ctx, ref)
			mu.Lock()
			defer mu.Unlock()
			st.Done++
			st.Image, st.Err = ref, nil
			if err != nil {
				if ctx.Err() != nil {
					err = errors.Join(err, ctx.Err())
				}
				perr := &PullError{Image: ref, Err: err}
				res.Failed = append(res.Failed, perr)
				st.Failed++
				st.Err = perr
			} else {
				res.Pulled++
				res.Bytes += n
				st.Bytes += n
			}
			if o.Report != nil {
				o.Report(st)
			}
			return nil
		})
	}
	_ = g.Wait()
	return res
}

// PullError is an image that could not be pulled ahead.
type PullError struct {
	Image string
	Err   error
}

// Error names the image.
func (e *PullError) Error() string { return "pre-pull " + e.Image + ": " + e.Err.Error() }

// Unwrap returns the puller's error.
func (e *PullError) Unwrap() error { return e.Err }
