package secrets

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// UnknownSecretError is `secret set` naming a secret the configuration
// does not declare. Backstage reads the whole Secret as environment
// variables, so a misspelt name would silently add a variable no one reads.
type UnknownSecretError struct {
	Name     string
	Declared []string
}

// Error implements error.
func (e *UnknownSecretError) Error() string {
	return fmt.Sprintf("secret %s is not declared by the profile or the config", e.Name)
}

// Hint names the declared secrets, and how to declare another.
func (e *UnknownSecretError) Hint() string {
	h := "declare it in neuroscale.yaml under secrets: (for example `" + e.Name + ": {kind: opaque}`)"
	if len(e.Declared) > 0 {
		h = "known secrets: " + strings.Join(e.Declared, ", ") + "; or " + h
	}
	return h
}

// ReadOptions are where ReadOne reads a value from.
type ReadOptions struct {
	// In is standard input, read when Terminal is nil (a pipe or file).
	In io.Reader
	// Terminal asks without echo when standard input is a terminal.
	Terminal Terminal
	// PromptOut is where the question goes (standard error).
	PromptOut io.Writer
	// Target overrides DefaultTarget (tests).
	Target *Target
}

// ReadOne reads the value of the declared secret name from the terminal
// (without echo) or, when standard input is not a terminal, from it
// (one trailing newline removed), and validates it. The Set it returns
// holds that one entry.
func ReadOne(r *config.Resolved, name string, opts ReadOptions) (*Set, error) {
	var rs *config.ResolvedSecret
	declared := make([]string, 0, len(r.Secrets))
	for i := range r.Secrets {
		declared = append(declared, r.Secrets[i].Name)
		if r.Secrets[i].Name == name {
			rs = &r.Secrets[i]
		}
	}
	if rs == nil {
		return nil, &UnknownSecretError{Name: name, Declared: declared}
	}
	var (
		v      Value
		origin Origin
		err    error
	)
	if opts.Terminal != nil {
		origin = Origin{Kind: OriginPrompt}
		w := opts.PromptOut
		if w == nil {
			w = io.Discard
		}
		v, err = Prompt(opts.Terminal, w, name, rs.Require.Why)
	} else {
		origin = Origin{Kind: OriginStdin}
		if opts.In == nil {
			return nil, Invalid([]Problem{problem(name, origin, "nothing to read: standard input is closed", "")})
		}
		v, err = ReadStream(opts.In)
	}
	if err != nil {
		return nil, Invalid([]Problem{problem(name, origin, "could not be read: "+err.Error(), "")})
	}
	if ps := Validate(name, rs.Source.Kind, origin, v); len(ps) > 0 {
		return nil, Invalid(ps)
	}
	consumers := rs.Require.Consumers
	readers := defaultConsumers(r)
	if len(consumers) == 0 {
		consumers = readers
	}
	set := &Set{Target: DefaultTarget(), Readers: readers}
	if opts.Target != nil {
		set.Target = *opts.Target
	}
	set.put(Entry{Name: name, Kind: rs.Source.Kind, Origin: origin, Value: v, Consumers: slices.Clone(consumers)})
	return set, nil
}

// StoreResult is the outcome of Store: what the Secret holds and what happened
// to each consumer.
type StoreResult struct {
	Applied  *Applied  `json:"-"`
	Rollouts []Rollout `json:"rollouts"`
}

// Store applies set into its Secret, merged with the keys already there,
// and rolls every consumer whose checksum changed; a re-run with the same
// values changes nothing.
func Store(ctx context.Context, cfg *rest.Config, set *Set, log *slog.Logger) (*StoreResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	applied, err := Apply(ctx, cfg, set)
	if err != nil {
		return nil, err
	}
	log.Debug("secret applied", "target", set.Target.String(), "keys", applied.Set.Names(), "changed", applied.Changed)
	rolls, err := Roll(ctx, cfg, applied.Set)
	if err != nil {
		return nil, err
	}
	for _, r := range rolls {
		log.Debug("consumer", "deployment", r.Consumer, "action", string(r.Action))
	}
	return &StoreResult{Applied: applied, Rollouts: rolls}, nil
}
