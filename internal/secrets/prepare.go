package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Prepared is what `up` needs from this package, in the order it needs
// it: checksums before render, Apply before the consumers' component is
// applied, Verify once it is Ready.
type Prepared struct {
	// Local is what the sources gave; Merged adds what the cluster Secret
	// already holds, i.e. what it will hold after Apply.
	Local, Merged *Set
	// Warnings are for optional secrets that are not set anywhere.
	Warnings []Problem
	// Checksums map each consumer to the checksum of what it will read:
	// render's content.Inputs.SecretChecksums.
	Checksums map[string]string
}

// Prepare resolves r's secrets (keys the cluster already holds count as
// set, and are not asked for again), merges them with the cluster Secret
// and computes the consumers' checksums. Nothing is changed in the
// cluster; a nil cfg is a cluster that does not exist yet. All problems come back at once in a *diag.Failed.
func Prepare(ctx context.Context, cfg *rest.Config, r *config.Resolved, opts Options) (*Prepared, error) {
	target := DefaultTarget()
	if opts.Target != nil {
		target = *opts.Target
	}
	if cfg != nil {
		stored, err := Stored(ctx, cfg, target)
		if err != nil {
			return nil, err
		}
		opts.Stored = append(opts.Stored, stored...)
	}
	local, warns, err := Resolve(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	// A cluster not created yet holds no Secret: what the sources gave
	// is what it will hold.
	merged := local
	if cfg != nil {
		if merged, err = Merge(ctx, cfg, local); err != nil {
			return nil, err
		}
	}
	return &Prepared{Local: local, Merged: merged, Warnings: warns, Checksums: Checksums(merged)}, nil
}

// Apply server-side applies the Secret (see Apply); for the engine's
// BeforeApply hook of the consumers' component.
func (p *Prepared) Apply(ctx context.Context, cfg *rest.Config) error {
	a, err := Apply(ctx, cfg, p.Local)
	if err != nil {
		return err
	}
	p.Merged = a.Set
	return nil
}

// Verify checks inside every consumer's running containers that each
// variable has the stored length (see VerifyInContainer); for the
// engine's AfterReady hook. A length that differs or a variable that is
// missing is the error (a *VerifyError). A check that could not run (no
// shell in the image, exec not allowed, no ready pod) is a warning, not an
// error: it proves nothing either way.
func (p *Prepared) Verify(ctx context.Context, cfg *rest.Config, log *slog.Logger) ([]Problem, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var warns []Problem
	var failed []error
	for _, consumer := range p.Merged.Consumers() {
		v, err := VerifyInContainer(ctx, cfg, p.Merged, consumer)
		var ve *VerifyError
		switch {
		case errors.As(err, &ve):
			failed = append(failed, err)
		case err != nil:
			if ctx.Err() != nil {
				return warns, err
			}
			warns = append(warns, warning(consumer, fmt.Sprintf("could not check the secrets inside the container: %v", err)))
		default:
			for _, c := range v.Checks {
				log.Debug("secret verified in container", "check", c.String())
			}
		}
	}
	return warns, errors.Join(failed...)
}
